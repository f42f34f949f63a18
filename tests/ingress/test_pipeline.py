"""pipeline.py with the real broker and a temporary data dir: finalize, discard, the outbox relay.

The pipeline runs its own thread and event loop, as in the ingress; the tests hand it uploads
the way the FTP loop does and wait for the reply callback.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from gateway_common.messaging import QUEUE_UPLOADS, Bus, decode
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.storage import StorageLayout
from gateway_ingress.pipeline import PendingUpload, UploadPipeline
from gateway_ingress.settings import IngressSettings
from gateway_ingress.spool import SpoolWriter
from gateway_ingress.tenant import UploadTarget

from tests.support.bus import next_message, queue_length, sender
from tests.support.ports import free_port

PUBLISH_TIMEOUT = 1.0


def _pipeline(data_dir: Path, amqp_url: str, **settings: object) -> UploadPipeline:
    values = {"data_dir": data_dir, "amqp_url": amqp_url, "publish_timeout": PUBLISH_TIMEOUT} | settings
    layout = StorageLayout(data_dir)
    layout.ensure()
    pipeline = UploadPipeline(IngressSettings(**values), layout)  # type: ignore[arg-type]
    pipeline.start()
    return pipeline


@pytest.fixture
def running(tmp_path: Path, amqp_url: str, bus: Bus) -> Iterator[UploadPipeline]:
    """A pipeline connected to the broker (the bus fixture deletes the queues it declares)."""
    pipeline = _pipeline(tmp_path, amqp_url)
    try:
        _wait(lambda: pipeline.bus.connected, "the pipeline did not connect")
        yield pipeline
    finally:
        pipeline.stop()


@pytest.fixture
def offline(tmp_path: Path, amqp_url: str) -> Iterator[UploadPipeline]:
    """A pipeline whose broker is away (nothing listens on its port)."""
    pipeline = _pipeline(tmp_path, f"amqp://guest:guest@127.0.0.1:{free_port()}/", outbox_max_backlog=1)
    try:
        yield pipeline
    finally:
        pipeline.stop()


def _wait(condition: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _received(pipeline: UploadPipeline, txid: str, data: bytes) -> PendingUpload:
    """An upload as the data channel leaves it: bytes in the spool writer, the txid reserved."""
    writer = SpoolWriter(pipeline.layout.spool_dir / txid / "payload")
    writer.write(data)
    writer.close()
    reservation = pipeline.layout.txid_dir / f"{txid}.reserved"
    reservation.parent.mkdir(parents=True, exist_ok=True)
    reservation.touch()
    return PendingUpload(txid, sender(), UploadTarget("svc", f"tx-{txid[:4]}", "report.xml", None), writer, reservation)


def _finalize(pipeline: UploadPipeline, upload: PendingUpload) -> events_pb2.UploadReceived:
    replied: Future[Future[events_pb2.UploadReceived]] = Future()
    pipeline.finalize(upload, replied.set_result)
    return replied.result(30).result(0)


def _outbox(pipeline: UploadPipeline) -> list[str]:
    return sorted(path.stem for path in pipeline.layout.outbox_dir.glob("*.pb"))


async def test_finalize_makes_the_upload_durable_and_publishes_its_event(running: UploadPipeline, bus: Bus) -> None:
    data = b"<report>1</report>" * 1000
    event = await asyncio.to_thread(_finalize, running, _received(running, "a" * 32, data))
    assert (event.gateway_txid, event.service, event.ftp_txid, event.file_name) == (
        "a" * 32,
        "svc",
        "tx-aaaa",
        "report.xml",
    )
    assert (event.size, event.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert event.spool_path == f"spool/{'a' * 32}/payload"
    assert (running.layout.data_dir / event.spool_path).read_bytes() == data
    assert event.sender.tenant == "company/30808460"
    message = await next_message(bus, QUEUE_UPLOADS)
    assert message.message_id == event.event_id
    assert decode(message) == event
    # Confirmed: the outbox no longer needs it (moved beside the payload just after the reply).
    await asyncio.to_thread(_wait, lambda: _outbox(running) == [], "the event to leave the outbox")


async def test_without_a_broker_the_upload_is_kept_in_the_outbox(offline: UploadPipeline) -> None:
    first = await asyncio.to_thread(_finalize, offline, _received(offline, "b" * 32, b"one"))
    second = await asyncio.to_thread(_finalize, offline, _received(offline, "c" * 32, b"two"))
    assert _outbox(offline) == sorted([first.event_id, second.event_id])
    await asyncio.to_thread(_wait, lambda: offline.backlog == 2, "the backlog was not counted")
    assert offline.readiness() == "outbox backlog 2 > 1"


async def test_the_relay_publishes_what_the_outbox_kept_once_the_broker_is_there(
    tmp_path: Path, amqp_url: str, bus: Bus
) -> None:
    away = _pipeline(tmp_path, f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    try:
        event = await asyncio.to_thread(_finalize, away, _received(away, "d" * 32, b"kept"))
    finally:
        away.stop()
    assert _outbox(away) == [event.event_id]
    await bus.declare_uploads()  # the router's queue, there before the broker comes back
    back = _pipeline(tmp_path, amqp_url)  # a restart, with the broker reachable again
    try:
        message = await next_message(bus, QUEUE_UPLOADS, timeout=60)
        assert decode(message) == event
        await asyncio.to_thread(_wait, lambda: _outbox(back) == [], "the relay left the event in the outbox")
    finally:
        back.stop()


async def test_a_failed_commit_discards_the_upload_and_publishes_nothing(running: UploadPipeline, bus: Bus) -> None:
    upload = _received(running, "e" * 32, b"lost")
    os.close(upload.writer._fd)  # the disk fails the fsync before the 226
    with pytest.raises(OSError, match="Bad file descriptor"):
        await asyncio.to_thread(_finalize, running, upload)
    assert not upload.writer.path.exists()
    assert not upload.reservation.exists()
    assert _outbox(running) == []
    await asyncio.sleep(0.5)
    assert await queue_length(bus, QUEUE_UPLOADS) == 0


async def test_discard_removes_the_partial_file_and_frees_the_transaction_id(running: UploadPipeline) -> None:
    upload = _received(running, "f" * 32, b"half a fi")
    running.discard(upload)
    await asyncio.to_thread(
        _wait, lambda: not upload.writer.path.exists() and not upload.reservation.exists(), "discard left files"
    )
    assert not upload.writer.path.parent.exists()
