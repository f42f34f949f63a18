"""The status service as a client and a hostile producer see it: names derived from an upload always
fit (refused at STOR otherwise), a message that can never be written is parked at once without
holding back other tenants, and a redelivered event never brings back a file the client deleted."""

from __future__ import annotations

import asyncio
import ftplib
import io
import json
import time
import uuid
from pathlib import Path

import aio_pika
import pytest
from gateway_common.events import new_id, status_event, timestamp
from gateway_common.proto.gateway.v1 import events_pb2, identity_pb2
from gateway_common.storage import StorageLayout

from tests.support.clients import ClientCert, curl, ftps, wait_for_status
from tests.support.gateway import Gateway, metric_value
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e
COMPANY = "company/30808460"
# The name: 118 'æ' are 236 bytes in UTF-8, passing a 200-character rule.
LONG_DANISH = "æ" * 118 + ".xml"


def _personal_tenant(pki: Path) -> str:
    entry = next(e for e in json.loads((pki / "clients" / "index.json").read_text()) if e["name"] == "personal")
    return f"personal/{entry['serial_number'].removeprefix('PID:')}"


async def _publish(amqp_url: str, events: list[events_pb2.StatusEvent]) -> None:
    """Publish status events straight onto the bus, as a faulty or hostile producer could."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("gateway")
        for event in events:
            body = aio_pika.Message(
                event.SerializeToString(), type=event.DESCRIPTOR.full_name, message_id=event.event_id, delivery_mode=2
            )
            await exchange.publish(body, "status.event", mandatory=True)


def test_a_name_whose_status_file_would_not_fit_is_refused_before_data_flows(gateway: Gateway, pki: Path) -> None:
    client = ftps(gateway.ftps_port, pki, ClientCert.from_pki(pki, "employee"))
    try:
        with pytest.raises(ftplib.error_perm, match=r"^553 .*bytes in UTF-8"):
            client.storbinary(f"STOR heartbeat/{LONG_DANISH}", io.BytesIO(b"<x/>"))
        # Folder mode: the folder's name is the transaction id, refused when the folder is made.
        with pytest.raises(ftplib.error_perm, match=r"^553 .*bytes in UTF-8"):
            client.mkd(f"heartbeat/{LONG_DANISH}")
        # The same name at half the bytes is fine, and it was not used up by the refusals.
        short = "æ" * 59 + f"-{uuid.uuid4().hex[:6]}.xml"
        client.storbinary(f"STOR heartbeat/{short}", io.BytesIO(b"<x/>"))
    finally:
        client.close()
    wait_for_status(gateway.out_dir(COMPANY), f"status_heartbeat_{short}.xml", 2)
    assert not list(gateway.out_dir(COMPANY).glob("status_heartbeat_æææææ*æ.xml.xml"))


async def test_status_that_can_never_be_written_is_parked_without_holding_back_others(
    gateway: Gateway, pki: Path, tmp_path: Path
) -> None:
    poison = []
    for _ in range(24):
        upload = events_pb2.UploadReceived(
            gateway_txid=new_id(),
            sender=identity_pb2.Sender(tenant="company/11111111", cvr="11111111"),
            service="heartbeat",
            ftp_txid=LONG_DANISH,
            file_name=LONG_DANISH,
            received_at=timestamp(),
        )
        poison.append(status_event(upload, events_pb2.STATUS_CODE_SENT, "router"))
    parked = 'gateway_messages_parked_total{queue="gateway.status.events",reason="invalid"}'
    before = metric_value(gateway.metrics("status"), parked)
    await _publish(gateway.amqp_url, poison)

    txid = f"after-poison-{uuid.uuid4().hex[:8]}"
    (tmp_path / txid).write_bytes(b"ping")
    started = time.monotonic()
    upload = curl(
        gateway.ftps_port, pki, ClientCert.from_pki(pki, "personal"), "/heartbeat/", "-T", str(tmp_path / txid)
    )
    assert upload.returncode == 0, upload.stderr
    # Before the fix this status came minutes late, behind the poison's retries.
    wait_for_status(gateway.out_dir(_personal_tenant(pki)), f"status_heartbeat_{txid}.xml", 2, timeout=20)
    elapsed = time.monotonic() - started
    scraped = gateway.metrics_when("status", lambda body: metric_value(body, parked) >= before + len(poison))
    assert metric_value(scraped, parked) >= before + len(poison)
    assert not (gateway.data_dir / "tenants" / "company" / "11111111").exists()
    print(f"other tenant's status after 24 poison messages: {elapsed:.2f} s")


async def test_a_deleted_status_file_stays_deleted_when_its_event_comes_again(
    gateway: Gateway, pki: Path, tmp_path: Path
) -> None:
    employee = ClientCert.from_pki(pki, "employee")
    txid = f"delete-me-{uuid.uuid4().hex[:8]}"
    (tmp_path / txid).write_bytes(b"ping")
    assert curl(gateway.ftps_port, pki, employee, "/heartbeat/", "-T", str(tmp_path / txid)).returncode == 0
    name = f"status_heartbeat_{txid}.xml"
    status = wait_for_status(gateway.out_dir(COMPANY), name, 2)
    ledger = events_pb2.StatusHistory()
    layout, gtxid = StorageLayout(gateway.data_dir), status.findtext("GatewayTransactionID") or ""
    # The status service records the history last, a moment after the files in /out.
    eventually(lambda: layout.find_ledger(gtxid) is not None, "the transaction's history was recorded")
    found = layout.find_ledger(gtxid)
    assert found is not None
    ledger.ParseFromString(found.read_bytes())

    deleted = curl(gateway.ftps_port, pki, employee, "/", "-Q", f"DELE /out/{name}")
    assert deleted.returncode == 0, deleted.stderr
    # The broker redelivers every event of the transaction (a consumer died before its ack).
    await _publish(gateway.amqp_url, list(ledger.events))
    for _ in range(200):  # until the status service has seen them all, 20 s at most
        if all(_ignored(gateway, e.event_id) for e in ledger.events):
            break
        await asyncio.sleep(0.1)
    assert all(_ignored(gateway, e.event_id) for e in ledger.events)
    assert not (gateway.out_dir(COMPANY) / name).exists()


def _ignored(gateway: Gateway, event_id: str) -> bool:
    return any(
        '"duplicate status event ignored"' in line and event_id in line for line in gateway.log("status").splitlines()
    )
