"""The HTTP adapter against a real local HTTP server, through the adapter base on the real broker.

What the backend receives (headers, body), and how each kind of answer ends: accepted (codes 1
and 2), refused (code 0 at once) or retried (a Dispatch in the retry queue, no status yet).
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from gateway_adapter_http.adapter import HttpAdapter
from gateway_common.adapter import AdapterSettings
from gateway_common.messaging import QUEUE_STATUS, Bus, adapter_queue, decode, retry_queue
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.storage import StorageLayout

from tests.support.bus import next_message, queue_length, upload_event
from tests.support.http_backend import Answer, ScriptedBackend
from tests.support.ports import free_port

PAYLOAD = b"<report>hello</report>"
TXID = "c" * 32


@pytest.fixture
def backend() -> Iterator[ScriptedBackend]:
    with ScriptedBackend() as server:
        yield server


@pytest.fixture
async def adapter(bus: Bus, tmp_path: Path) -> AsyncIterator[HttpAdapter]:
    made = HttpAdapter(AdapterSettings(data_dir=tmp_path, retry_delays=(300.0,), max_attempts=3))
    made.bus = bus
    made.layout = StorageLayout(tmp_path)
    made.layout.ensure()
    await bus.declare_adapter(made.name)
    await bus.declare_retries(made.name, 1)
    await bus.declare_status()
    await made.start()
    try:
        yield made
    finally:
        await made.stop()


async def _deliver(adapter: HttpAdapter, options: dict[str, str], **fields: object) -> None:
    upload = upload_event("tax-reports", TXID, size=len(PAYLOAD), **fields)
    payload = adapter.layout.spool_path(upload.spool_path)
    payload.parent.mkdir(parents=True, exist_ok=True)
    payload.write_bytes(PAYLOAD)
    dispatch = events_pb2.Dispatch(event_id=f"{TXID}/dispatch", upload=upload, adapter="http", options=options)
    dispatch.attempt = 1
    await adapter.handle(dispatch, None)  # type: ignore[arg-type]


async def _status(bus: Bus) -> events_pb2.StatusEvent:
    event = decode(await next_message(bus, QUEUE_STATUS))
    assert isinstance(event, events_pb2.StatusEvent)
    return event


async def test_the_backend_receives_the_file_and_what_identifies_it(
    adapter: HttpAdapter, bus: Bus, backend: ScriptedBackend
) -> None:
    os.environ["UNIT_BACKEND_TOKEN"] = "s3cret"
    try:
        await _deliver(
            adapter,
            {"url": f"{backend.url}/files", "token": "env:UNIT_BACKEND_TOKEN"},
            ftp_txid="årsopgørelse 1",
            file_name="årsopgørelse.xml",
            sha256="ab" * 32,
        )
    finally:
        del os.environ["UNIT_BACKEND_TOKEN"]
    (request,) = backend.requests
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert request.path == "/files"
    assert request.body == PAYLOAD
    assert headers["content-length"] == str(len(PAYLOAD))
    assert headers["idempotency-key"] == headers["x-gateway-transaction-id"] == TXID
    assert headers["x-ftp-transaction-id"].isascii()
    assert unquote(headers["x-ftp-transaction-id"]) == "årsopgørelse 1"
    assert unquote(headers["x-file-name"]) == "årsopgørelse.xml"
    assert headers["content-disposition"] == "attachment; filename*=UTF-8''" + headers["x-file-name"]
    assert headers["x-service"] == "tax-reports"
    assert unquote(headers["x-sender-tenant"]) == "company/30808460"
    assert headers["x-content-sha256"] == "ab" * 32
    assert headers["x-delivery-attempt"] == "1"
    assert headers["authorization"] == "Bearer s3cret"


async def test_a_2xx_with_json_is_accepted_with_the_backends_id_and_response_file(
    adapter: HttpAdapter, bus: Bus, backend: ScriptedBackend
) -> None:
    receipt = b"<receipt/>"
    backend.answer = Answer.json(
        201,
        {
            "transaction_id": "T-77",
            "message": "queued for processing",
            "response": {"name": "receipt.xml", "content_base64": base64.b64encode(receipt).decode()},
        },
    )
    await _deliver(adapter, {"url": backend.url})
    accepted, response = await _status(bus), await _status(bus)
    assert (accepted.code, response.code) == (events_pb2.STATUS_CODE_ACCEPTED, events_pb2.STATUS_CODE_RESPONSE)
    assert (accepted.backend_txid, accepted.message) == ("T-77", "queued for processing")
    spooled = adapter.layout.spool_dir / TXID / "responses" / response.response_file
    assert spooled.read_bytes() == receipt


async def test_a_2xx_without_json_is_accepted_with_the_id_from_its_header(
    adapter: HttpAdapter, bus: Bus, backend: ScriptedBackend
) -> None:
    backend.answer = Answer(200, b"OK", {"X-Transaction-Id": "H-1"})
    await _deliver(adapter, {"url": backend.url})
    accepted = await _status(bus)
    assert (accepted.code, accepted.backend_txid) == (events_pb2.STATUS_CODE_ACCEPTED, "H-1")


@pytest.mark.parametrize(
    ("answer", "code", "message"),
    [
        (Answer.json(422, {"reason": "line 3: not XML"}), "backend_http_422", "line 3: not XML"),
        (Answer.json(400, {"detail": "empty file"}), "backend_http_400", "empty file"),
        (Answer(403, b"not for you"), "backend_http_403", "not for you"),
        (Answer(404, b""), "backend_http_404", "Not Found"),
        (Answer(302, b"", {"Location": "/elsewhere"}), "backend_http_302", "unexpected answer 302 from the backend"),
    ],
    ids=["422-reason", "400-detail", "403-text", "404-empty", "302-no-redirects"],
)
async def test_a_refusal_ends_in_code_0_with_the_backends_reason(
    adapter: HttpAdapter, bus: Bus, backend: ScriptedBackend, answer: Answer, code: str, message: str
) -> None:
    backend.answer = answer
    await _deliver(adapter, {"url": backend.url})
    event = await _status(bus)
    assert (event.code, event.error.code, event.error.message) == (events_pb2.STATUS_CODE_ERROR, code, message)
    assert len(backend.requests) == 1
    assert await queue_length(bus, retry_queue("http", 0)) == 0


@pytest.mark.parametrize("status", [500, 503, 408, 425, 429])
async def test_a_temporary_answer_is_retried(
    adapter: HttpAdapter, bus: Bus, backend: ScriptedBackend, status: int
) -> None:
    backend.answer = Answer.json(status, {"reason": "try later"})
    await _deliver(adapter, {"url": backend.url})
    retry = decode(await next_message(bus, retry_queue("http", 0)))
    assert isinstance(retry, events_pb2.Dispatch)
    assert retry.attempt == 2
    assert await queue_length(bus, QUEUE_STATUS) == 0


async def test_an_unreachable_backend_is_retried(adapter: HttpAdapter, bus: Bus) -> None:
    await _deliver(adapter, {"url": f"http://127.0.0.1:{free_port()}/files", "timeout": "5"})
    retry = decode(await next_message(bus, retry_queue("http", 0)))
    assert isinstance(retry, events_pb2.Dispatch)
    assert await queue_length(bus, adapter_queue("http")) == 0


async def test_a_route_without_url_is_refused_as_misconfigured(adapter: HttpAdapter, bus: Bus) -> None:
    await _deliver(adapter, {})
    event = await _status(bus)
    assert (event.code, event.error.code) == (events_pb2.STATUS_CODE_ERROR, "route_misconfigured")
