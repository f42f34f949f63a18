"""gateway-trace and the /support API tell a transaction's whole life from storage and broker alone.

On the session's gateway: an upload whose first delivery meets an unavailable backend, is retried
and accepted, and whose status file the client then deletes; a transaction with a parked message;
and the same answers over the authenticated HTTP API.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.storage import StorageLayout

from tests.support.clients import ClientCert, curl, wait_for_status
from tests.support.gateway import BIN, SUPPORT_TOKEN, Gateway

pytestmark = pytest.mark.e2e
CVR = "30808460"
TENANT = f"company/{CVR}"


def trace_cli(gw: Gateway, *args: str, amqp_url: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "gateway-trace"), *args],
        env=gw.env("status") | ({"GATEWAY_AMQP_URL": amqp_url} if amqp_url else {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def trace_json(gw: Gateway, *args: str) -> dict[str, Any]:
    result = trace_cli(gw, *args, "--json")
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def support(gw: Gateway, method: str, path: str, body: object = None, token: str | None = SUPPORT_TOKEN) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{gw.http_ports['status']}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def upload(gw: Gateway, pki: Path, folder: Path, service: str, prefix: str = "trace") -> str:
    txid = f"{prefix}-{uuid.uuid4().hex[:12]}.xml"
    (folder / txid).write_bytes(b"<report>trace me</report>")
    result = curl(gw.ftps_port, pki, ClientCert.from_pki(pki, "employee"), f"/{service}/", "-T", str(folder / txid))
    assert result.returncode == 0, result.stderr
    return txid


def kinds(answer: dict[str, Any]) -> list[str]:
    return [step["kind"] for step in answer["steps"]]


def test_trace_tells_a_retried_delivery_and_the_clients_delete(gateway: Gateway, pki: Path, tmp_path: Path) -> None:
    gateway.backend("PUT", "/unavailable/true")
    try:
        txid = upload(gateway, pki, tmp_path, "tax-reports")
        # No status yet (code 1 means the backend has the file): the reservation names the transaction.
        layout = StorageLayout(gateway.data_dir)
        reservation = layout.find_reservation(TENANT, "tax-reports", txid)
        assert reservation is not None
        gateway_txid = reservation.read_text()
        deliveries = layout.find_spool_txn(gateway_txid) / "deliveries"
        deadline = time.monotonic() + 20
        while not (deliveries / "001.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        gateway.backend("PUT", "/unavailable/false")
    wait_for_status(gateway.out_dir(TENANT), f"status_tax-reports_{txid}.xml", 2, timeout=30)
    name = f"status_tax-reports_{txid}.xml"
    deleted = curl(gateway.ftps_port, pki, ClientCert.from_pki(pki, "employee"), "/", "-Q", f"DELE /out/{name}")
    assert deleted.returncode == 0, deleted.stderr

    answer = trace_json(gateway, gateway_txid)
    assert (answer["tenant"], answer["service"], answer["ftp_txid"]) == (TENANT, "tax-reports", txid)
    assert answer["current_code"] == 2
    upload_step = answer["steps"][0]
    assert upload_step["kind"] == "upload"
    assert upload_step["details"]["client_address"] == "127.0.0.1"
    assert upload_step["details"]["size"] == len(b"<report>trace me</report>")
    assert upload_step["details"]["ingress_node"]
    assert upload_step["details"]["sender"]["cvr"] == CVR
    # In order: a failed attempt with its retry schedule, the accepted attempt, status codes 1
    # (the backend has the file) and 2, and the client's delete of the status file.
    steps = kinds(answer)
    assert (steps[0], steps[-1]) == ("upload", "deletion"), steps
    assert sorted(steps[1:-1]) == ["delivery", "delivery", "status", "status"], steps
    first, second = [step["details"] for step in answer["steps"] if step["kind"] == "delivery"]
    assert (first["attempt"], first["result"], first["error_code"]) == (1, "retry", "backend_http_503"), first
    assert first["retry_in_seconds"] > 0
    assert (second["attempt"], second["result"]) == (2, "accepted")
    assert second["backend_txid"].startswith("DEMO-")
    assert answer["files_in_out"] == {name: False}
    assert answer["payload"].startswith("in the spool")
    assert answer["notes"] == ["no message of this transaction is parked"]  # the broker was asked

    # The same transaction by the client's own names, as text.
    text = trace_cli(gateway, "--cvr", CVR, "--service", "tax-reports", "--ftp-txid", txid)
    assert text.returncode == 0, text.stderr
    assert gateway_txid in text.stdout
    assert "next attempt in" in text.stdout
    assert "client deleted" in text.stdout

    # The support API: the same answer, only with a support token, tenants only in the body.
    assert support(gateway, "GET", f"/support/transactions/{gateway_txid}") == answer
    found = support(
        gateway, "POST", "/support/transactions/find", {"cvr": CVR, "service": "tax-reports", "ftp_txid": txid}
    )
    assert found == answer
    with pytest.raises(urllib.error.HTTPError) as refused:
        support(gateway, "GET", f"/support/transactions/{gateway_txid}", token="wrong")
    assert refused.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as missing:
        support(gateway, "GET", f"/support/transactions/{uuid.uuid4().hex}")
    assert missing.value.code == 404
    listed = support(gateway, "POST", "/support/transactions/search", {"cvr": CVR, "from": "2000-01-01T00:00:00Z"})
    assert {"service": "tax-reports", "ftp_txid": txid, "gateway_txid": gateway_txid, "current_code": 2} in [
        {k: row[k] for k in ("service", "ftp_txid", "gateway_txid", "current_code")} for row in listed["transactions"]
    ]


def test_trace_shows_the_backends_response_file(gateway: Gateway, pki: Path, tmp_path: Path) -> None:
    txid = upload(gateway, pki, tmp_path, "tax-reports", prefix="respond")  # the demo backend answers these
    status = wait_for_status(gateway.out_dir(TENANT), f"status_tax-reports_{txid}.xml", 3)
    answer = trace_json(gateway, status.findtext("GatewayTransactionID") or "", "--no-broker")
    assert answer["current_code"] == 3
    assert kinds(answer)[0] == "upload"
    assert sorted(kinds(answer)[1:]) == ["delivery", "status", "status", "status"], kinds(answer)
    response = f"response_tax-reports_{txid}~receipt.xml"
    assert answer["steps"][-1]["details"]["response_file"] == response
    assert answer["files_in_out"] == {f"status_tax-reports_{txid}.xml": True, response: True}


async def _park(amqp_url: str, dispatch: events_pb2.Dispatch) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("gateway")
        message = aio_pika.Message(
            dispatch.SerializeToString(),
            type=dispatch.DESCRIPTOR.full_name,
            message_id=dispatch.event_id,
            headers={"x-parked-from": "gateway.adapter.heartbeat", "x-parked-reason": "test: parked for tracing"},
        )
        await exchange.publish(message, "parked.gateway.adapter.heartbeat", mandatory=True)


def test_trace_shows_parked_messages_and_works_without_the_broker(gateway: Gateway, pki: Path, tmp_path: Path) -> None:
    txid = upload(gateway, pki, tmp_path, "heartbeat")
    status = wait_for_status(gateway.out_dir(TENANT), f"status_heartbeat_{txid}.xml", 2)
    gateway_txid = status.findtext("GatewayTransactionID") or ""
    dispatch = events_pb2.Dispatch(
        event_id=f"{gateway_txid}/parked-test",
        upload=events_pb2.UploadReceived(gateway_txid=gateway_txid, service="heartbeat", ftp_txid=txid),
        adapter="heartbeat",
        attempt=1,
    )
    asyncio.run(_park(gateway.amqp_url, dispatch))

    answer = trace_json(gateway, gateway_txid)
    parked = [step for step in answer["steps"] if step["kind"] == "parked"]
    assert [p["details"]["reason"] for p in parked] == ["test: parked for tracing"], answer["steps"]
    assert parked[0]["details"]["origin"] == "gateway.adapter.heartbeat"
    # Looking does not move it: a second trace sees it still parked.
    assert [s["kind"] for s in trace_json(gateway, gateway_txid)["steps"]].count("parked") == 1

    # Without the broker the storage still tells the story, and says what it could not ask.
    offline = trace_cli(gateway, gateway_txid, "--json", amqp_url="amqp://guest:guest@127.0.0.1:1/")
    assert offline.returncode == 0, offline.stderr
    alone = json.loads(offline.stdout)
    assert kinds(alone)[0] == "upload"
    assert sorted(kinds(alone)[1:]) == ["delivery", "status", "status"], kinds(alone)
    assert "the broker was not asked: parked messages unknown" in alone["notes"]


def test_trace_refuses_what_it_cannot_find_with_a_clear_message(gateway: Gateway) -> None:
    unknown = trace_cli(gateway, uuid.uuid4().hex, "--no-broker")
    assert unknown.returncode == 1
    assert "nothing is known of transaction" in unknown.stderr
    escape = trace_cli(gateway, "--cvr", CVR, "--service", "..", "--ftp-txid", "x")
    assert escape.returncode == 1
    assert "no transaction" in escape.stderr
    both = trace_cli(gateway, "--cvr", CVR, "--pid", "1", "--service", "s", "--ftp-txid", "x")
    assert both.returncode == 2
