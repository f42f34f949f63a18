"""Nothing acknowledged is lost: a burst of uploads while services crash and the broker drops everyone.

A gateway of its own (own vhost, short retry delays) takes uploads from several curl clients at
once while the ingress, the router, the HTTP adapter and the status service are killed with
SIGKILL in turn and the broker closes every connection once. Afterwards every upload that got
its 226 must have exactly one final status, a clean history, and must have reached the backend.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aio_pika
import pytest
from gateway_common.proto.gateway.v1 import events_pb2, identity_pb2

from tests.support.broker import close_connections, private_vhost
from tests.support.burst import final_statuses, upload_until
from tests.support.clients import ClientCert, curl, read_status, wait_for_status
from tests.support.gateway import BIN, Gateway, metric_value

pytestmark = pytest.mark.e2e
TENANT = "company/30808460"
SERVICE = "tax-reports"
CLIENTS = 3
FAULT_GAP = 1.5  # seconds of uploads between two faults
MAX_ATTEMPTS = 4
FAULTS = ("ingress", "router", "adapter-http", "status", "broker")


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory, pki: Path) -> Iterator[Gateway]:
    with private_vhost() as url:
        gw = Gateway(
            tmp_path_factory.mktemp("faults"),
            pki,
            url,
            # Attempts at 0, 0.3, 1.8 and 4.8 s: the outage test switches the backend back at 0.8 s, with
            # 4 s to spare for a loaded machine (with [0.3, 0.6, 1] it had 1.1 s).
            extra_env={"GATEWAY_RETRY_DELAYS": "[0.3, 1.5, 3]", "GATEWAY_MAX_ATTEMPTS": str(MAX_ATTEMPTS)},
        )
        try:
            gw.start()
            yield gw
        finally:
            gw.stop()


def test_acknowledged_uploads_survive_crashes_and_broker_loss(faulty: Gateway, pki: Path, tmp_path: Path) -> None:
    client = ClientCert.from_pki(pki, "employee")
    stop = threading.Event()
    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        uploads = [pool.submit(upload_until, faulty, client, tmp_path, stop, SERVICE) for _ in range(CLIENTS)]
        for fault in FAULTS:
            time.sleep(FAULT_GAP)
            if fault == "broker":
                close_connections(faulty.amqp_url)
            else:
                faulty.crash(fault)
        time.sleep(FAULT_GAP)
        stop.set()
        results = {txid: ok for future in uploads for txid, ok in future.result().items()}
    acknowledged = [txid for txid, ok in results.items() if ok]
    burst_seconds = time.monotonic() - started

    statuses = final_statuses(faulty.out_dir(TENANT), SERVICE, acknowledged, timeout=60)

    deliveries: dict[str, int] = faulty.backend("GET", "/deliveries")
    duplicates = 0
    for txid, path in statuses.items():
        status = read_status(path)
        codes = [event.findtext("StatusCode") for event in status.iter("Event")]
        assert sorted(codes) == ["1", "2"], (txid, codes)  # one "sent", one "accepted", nothing twice
        assert status.findtext("StatusCode") == "2", txid
        assert (status.findtext("BackendTransactionID") or "").startswith("DEMO-"), txid
        gateway_txid = status.findtext("GatewayTransactionID") or ""
        assert deliveries.get(gateway_txid, 0) >= 1, txid
        duplicates += deliveries[gateway_txid] - 1
    print(
        f"\nfault burst: {len(results)} uploads in {burst_seconds:.1f}s, {len(acknowledged)} acknowledged, "
        f"{len(FAULTS)} faults, {len(statuses)} final statuses, {duplicates} duplicate deliveries recognised"
    )
    assert len(acknowledged) >= 20, "the burst should get most uploads through"


def _upload(gw: Gateway, pki: Path, folder: Path, content: bytes = b"<report/>") -> str:
    txid = f"single-{uuid.uuid4().hex[:12]}.xml"
    (folder / txid).write_bytes(content)
    result = curl(gw.ftps_port, pki, ClientCert.from_pki(pki, "employee"), f"/{SERVICE}/", "-T", str(folder / txid))
    assert result.returncode == 0, result.stderr
    return txid


def test_backend_outage_shorter_than_the_retries_ends_accepted(faulty: Gateway, pki: Path, tmp_path: Path) -> None:
    faulty.backend("PUT", "/unavailable/true")
    try:
        txid = _upload(faulty, pki, tmp_path)
        time.sleep(0.8)  # the first attempts get 503
        # Code 1 says the backend system has the file: not while it answers 503 (issue 9.7).
        assert not (faulty.out_dir(TENANT) / f"status_{SERVICE}_{txid}.xml").exists()
    finally:
        faulty.backend("PUT", "/unavailable/false")
    status = wait_for_status(faulty.out_dir(TENANT), f"status_{SERVICE}_{txid}.xml", 2)
    assert [e.findtext("StatusCode") for e in status.iter("Event")] == ["1", "2"]
    assert faulty.backend("GET", "/deliveries")[status.findtext("GatewayTransactionID")] == 1


def test_exhausted_retries_become_code_0_with_the_reason(faulty: Gateway, pki: Path, tmp_path: Path) -> None:
    faulty.backend("PUT", "/unavailable/true")
    try:
        txid = _upload(faulty, pki, tmp_path)
        status = wait_for_status(faulty.out_dir(TENANT), f"status_{SERVICE}_{txid}.xml", 0, timeout=30)
    finally:
        faulty.backend("PUT", "/unavailable/false")
    assert status.findtext("Error/Code") == "backend_http_503"
    assert [e.findtext("StatusCode") for e in status.iter("Event")] == ["0"]  # never "sent"
    assert f"after {MAX_ATTEMPTS} attempts" in (status.findtext("Error/Message") or "")
    assert "backend under maintenance" in (status.findtext("Error/Message") or "")
    assert status.findtext("Error/Resolution")
    # The adapter counts the failure once the status event it published is confirmed.
    assert 'result="exhausted"' in faulty.metrics_when("adapter-http", lambda body: 'result="exhausted"' in body)


async def _publish_raw(amqp_url: str, routing_key: str, body: bytes, message_type: str) -> str:
    """Publish a hand-made message as a broken or hostile producer would; return its message id."""
    message_id = uuid.uuid4().hex
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("gateway")
        message = aio_pika.Message(body, type=message_type, message_id=message_id, delivery_mode=2)
        await exchange.publish(message, routing_key, mandatory=True)
    return message_id


async def _parked(amqp_url: str, message_ids: set[str], timeout: float = 15) -> dict[str, dict[str, object]]:
    """Take the messages ``message_ids`` out of the parking queue; return their headers."""
    found: dict[str, dict[str, object]] = {}
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue("gateway.parked")
        deadline = time.monotonic() + timeout
        while set(found) != message_ids and time.monotonic() < deadline:
            message = await queue.get(fail=False)
            if message is None:
                await asyncio.sleep(0.1)
                continue
            if message.message_id in message_ids:
                found[message.message_id] = dict(message.headers)
                await message.ack()
            else:
                await message.nack(requeue=True)
    return found


@pytest.mark.parametrize(
    ("routing_key", "message_type", "body", "reason"),
    [
        ("upload.received", "gateway.v1.Nonsense", b"\x01\x02", "poison: unknown message type"),
        ("upload.received", "gateway.v1.UploadReceived", b"\xff\xff\xff", "poison: undecodable"),
        ("status.event", "gateway.v1.StatusEvent", b"\x0a\x03abc\x12\x05../..", "invalid:"),
    ],
)
async def test_poison_messages_are_parked_and_consumers_keep_going(
    faulty: Gateway, pki: Path, tmp_path: Path, routing_key: str, message_type: str, body: bytes, reason: str
) -> None:
    service = "router" if routing_key == "upload.received" else "status"
    queue = "gateway.router.uploads" if service == "router" else "gateway.status.events"
    label = f'gateway_messages_parked_total{{queue="{queue}",reason="{reason.partition(":")[0]}"}}'
    parked_before = metric_value(faulty.metrics(service), label)
    message_id = await _publish_raw(faulty.amqp_url, routing_key, body, message_type)

    headers = (await _parked(faulty.amqp_url, {message_id}))[message_id]
    assert str(headers["x-parked-reason"]).startswith(reason), headers
    assert headers["x-parked-from"] == queue
    # The consumer counts the message once the broker confirmed it parked, so a moment after we can see it.
    scraped = faulty.metrics_when(service, lambda body: metric_value(body, label) > parked_before)
    assert metric_value(scraped, label) == parked_before + 1
    # The consumer is still alive: a real upload goes all the way through.
    txid = _upload(faulty, pki, tmp_path)
    wait_for_status(faulty.out_dir(TENANT), f"status_{SERVICE}_{txid}.xml", 2)


def _replay(gw: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(BIN / "gateway-replay"), *args],
        check=False,
        env=gw.env("replay"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_failed_transaction_is_replayed_from_the_spool(faulty: Gateway, pki: Path, tmp_path: Path) -> None:
    faulty.backend("PUT", "/unavailable/true")
    try:
        txid = _upload(faulty, pki, tmp_path)
        failed = wait_for_status(faulty.out_dir(TENANT), f"status_{SERVICE}_{txid}.xml", 0, timeout=30)
    finally:
        faulty.backend("PUT", "/unavailable/false")
    gateway_txid = failed.findtext("GatewayTransactionID") or ""

    _replay(faulty, "transaction", gateway_txid)

    status = wait_for_status(faulty.out_dir(TENANT), f"status_{SERVICE}_{txid}.xml", 2)
    assert [e.findtext("StatusCode") for e in status.iter("Event")] == ["0", "1", "2"]
    assert faulty.backend("GET", "/deliveries")[gateway_txid] == 1


async def test_parked_message_is_replayed_to_its_origin_queue(faulty: Gateway) -> None:
    # A valid status event parked the way a consumer parks (origin in x-parked-from), e.g.
    # after the status service kept failing on it; replaying it must produce its status file.
    ftp_txid = f"parked-{uuid.uuid4().hex[:10]}"
    event = events_pb2.StatusEvent(
        event_id=f"{uuid.uuid4().hex}/error",
        gateway_txid=uuid.uuid4().hex,
        sender=identity_pb2.Sender(tenant=TENANT),
        service=SERVICE,
        ftp_txid=ftp_txid,
        file_name=ftp_txid,
        code=events_pb2.STATUS_CODE_ERROR,
        error=events_pb2.StatusError(code="test", message="parked and replayed"),
    )
    event.occurred_at.GetCurrentTime()
    connection = await aio_pika.connect(faulty.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("gateway")
        parked = aio_pika.Message(
            event.SerializeToString(),
            type=event.DESCRIPTOR.full_name,
            message_id=event.event_id,
            delivery_mode=2,
            headers={"x-parked-from": "gateway.status.events", "x-parked-reason": "test"},
        )
        await exchange.publish(parked, "parked.gateway.status.events", mandatory=True)

    listing = await asyncio.to_thread(_replay, faulty, "parked")
    assert event.event_id in listing.stdout
    assert not (faulty.out_dir(TENANT) / f"status_{SERVICE}_{ftp_txid}.xml").exists()

    moved = await asyncio.to_thread(_replay, faulty, "parked", "--replay", event.event_id)
    assert "1 message(s) moved back" in moved.stdout
    status = await asyncio.to_thread(wait_for_status, faulty.out_dir(TENANT), f"status_{SERVICE}_{ftp_txid}.xml", 0)
    assert status.findtext("Error/Message") == "parked and replayed"
    assert event.event_id not in (await asyncio.to_thread(_replay, faulty, "parked")).stdout


def _readiness(gw: Gateway, service: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{gw.http_ports[service]}/readyz", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_uploads_go_on_without_the_broker_and_readiness_reports_the_backlog(
    faulty: Gateway, pki: Path, tmp_path: Path
) -> None:
    saved = dict(faulty.extra_env)
    # An ingress whose broker is unreachable (nothing listens on port 1) from its very start.
    faulty.extra_env |= {"GATEWAY_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/", "GATEWAY_OUTBOX_MAX_BACKLOG": "2"}
    try:
        faulty.crash("ingress")
        started = time.monotonic()
        txids = [_upload(faulty, pki, tmp_path) for _ in range(3)]
        assert time.monotonic() - started < 10, "uploads must not wait for the broker"
        deadline = time.monotonic() + 10
        while (ready := _readiness(faulty, "ingress"))[0] == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ready[0] == 503, ready
        assert "outbox backlog 3 > 2" in ready[1], ready
        assert "gateway_outbox_backlog 3.0" in faulty.metrics("ingress")
    finally:
        faulty.extra_env.clear()
        faulty.extra_env.update(saved)
        faulty.crash("ingress")

    for txid in txids:
        wait_for_status(faulty.out_dir(TENANT), f"status_{SERVICE}_{txid}.xml", 2, timeout=30)
    assert _readiness(faulty, "ingress")[0] == 200
