"""A test kit for backend teams: test an adapter alone, then against a real broker.

Unit tests, no RabbitMQ: :func:`deliver` runs one delivery attempt through the same code the
running adapter uses (options validated against the adapter's model, payload checks, error
classification) and returns the :class:`~gateway_common.adapter.Outcome`::

    async def test_accepts(tmp_path):
        async with started(MyAdapter) as adapter:
            outcome = await deliver(adapter, b"<doc/>", {"endpoint": "..."}, tmp_path)
        assert outcome.result == "accepted"

    ``upload_event(spool(tmp_path, b"..."), tmp_path)`` makes an upload to deliver twice.

Contract tests, real broker: subclass :class:`AdapterContract` in a test module, say how to
reach a working and an unreachable backend and how many copies the backend holds of an upload;
pytest then checks idempotency (the same dispatch twice is one file), retry classification
(an unreachable backend is retried, then code 0 with the reason) and, when the adapter answers
with response files, that the response is spooled and announced (code 3). It needs a pytest
fixture ``amqp_url`` naming a (private) virtual host and pytest-asyncio in auto mode.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

import aio_pika

from gateway_common.adapter import Adapter, AdapterSettings, Outcome, run_adapter
from gateway_common.events import new_id
from gateway_common.messaging import RK_STATUS, Bus, decode, dispatch_key
from gateway_common.proto.gateway.v1 import events_pb2, identity_pb2
from gateway_common.routes import Route


def upload_event(
    payload: Path, data_dir: Path, *, file_name: str = "report.xml", service: str = "test-service"
) -> events_pb2.UploadReceived:
    """An upload as the ingress would announce it; ``payload`` must lie under ``data_dir``/spool."""
    digest = hashlib.sha256()
    with payload.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    gateway_txid = new_id()
    sender = identity_pb2.Sender(
        kind=identity_pb2.CERTIFICATE_KIND_EMPLOYEE,
        cvr="30808460",
        subject_id="RID-45490598",
        serial_number="CVR:30808460-RID:45490598",
        common_name="Test Employee",
        tenant="company/30808460",
    )
    return events_pb2.UploadReceived(
        event_id=f"{gateway_txid}/upload",
        gateway_txid=gateway_txid,
        sender=sender,
        service=service,
        ftp_txid=file_name,
        file_name=file_name,
        spool_path=str(payload.relative_to(data_dir)),
        size=payload.stat().st_size,
        sha256=digest.hexdigest(),
    )


def spool(data_dir: Path, payload: bytes | Path) -> Path:
    """Put ``payload`` where the ingress would: ``spool/<id>/payload`` under ``data_dir``."""
    target = data_dir / "spool" / new_id() / "payload"
    target.parent.mkdir(parents=True)
    if isinstance(payload, Path):
        # A hard link where possible: large test files are not copied (a symlink would leave the spool).
        try:
            os.link(payload, target)
        except OSError:
            shutil.copyfile(payload, target)
    else:
        target.write_bytes(payload)
    return target


def route_options(options: Mapping[str, object]) -> dict[str, str]:
    """``options`` as the router would hand them over (YAML scalars as text)."""
    return Route.model_validate({"adapter": "x", "options": dict(options)}).options


@asynccontextmanager
async def started(adapter_class: type[Adapter[Any]], **settings: Any) -> AsyncIterator[Adapter[Any]]:
    """An adapter with ``start()`` done and ``stop()`` guaranteed; no broker connection."""
    # Nothing connects to a broker here, so its default credentials need no refusing.
    adapter = adapter_class(adapter_class.settings_model(**({"demo": True} | settings)))
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()


async def deliver(
    adapter: Adapter[Any],
    payload: bytes | Path | events_pb2.UploadReceived,
    options: Mapping[str, object],
    data_dir: Path,
    *,
    file_name: str = "report.xml",
    attempt: int = 1,
) -> Outcome:
    """One delivery attempt of ``payload`` (bytes, or a file, spooled under ``data_dir``) with these route options.

    Pass an upload made by :func:`upload_event` to deliver the same transaction again (a redelivery).
    """
    if isinstance(payload, events_pb2.UploadReceived):
        upload = payload
    else:
        upload = upload_event(spool(data_dir, payload), data_dir, file_name=file_name)
    return await adapter.attempt(upload, route_options(options), attempt, data_dir / upload.spool_path)


class StatusWatch:
    """Status events published on a real broker, collected per gateway transaction id."""

    def __init__(self, queue: aio_pika.abc.AbstractQueue) -> None:
        self.queue = queue
        self.events: dict[str, list[events_pb2.StatusEvent]] = {}

    async def wait(self, gateway_txid: str, count: int, timeout: float = 60.0) -> list[events_pb2.StatusEvent]:
        """The first ``count`` status events of the transaction; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.events.get(gateway_txid, [])) < count:
            if time.monotonic() > deadline:
                got = self.events.get(gateway_txid, [])
                raise AssertionError(f"{gateway_txid}: expected {count} status events, got {got}")
            message = await self.queue.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            event = decode(message)
            if isinstance(event, events_pb2.StatusEvent):
                self.events.setdefault(event.gateway_txid, []).append(event)
        return self.events[gateway_txid][:count]


@asynccontextmanager
async def watching_status(bus: Bus) -> AsyncIterator[StatusWatch]:
    """Status events on ``bus``'s exchange from now on, in a queue of the test's own."""
    queue = await bus.channel.declare_queue(f"test.status.{new_id()[:12]}", exclusive=True, auto_delete=True)
    await queue.bind(bus.exchange, RK_STATUS)
    try:
        yield StatusWatch(queue)
    finally:
        await queue.delete(if_unused=False, if_empty=False)


@asynccontextmanager
async def running_adapter(
    adapter_class: type[Adapter[Any]], amqp_url: str, data_dir: Path, **settings: Any
) -> AsyncIterator[tuple[Bus, StatusWatch]]:
    """The adapter consuming its queue on the broker at ``amqp_url``, a bus to dispatch with and the status events."""
    # A test's broker (often a local one with its default account, a vhost per test run).
    merged: dict[str, Any] = {"amqp_url": amqp_url, "data_dir": data_dir, "demo": True} | settings
    adapter = adapter_class(adapter_class.settings_model(**merged))
    bus = Bus(amqp_url)
    await bus.connect()
    await bus.declare_adapter(adapter_class.name)
    task = asyncio.create_task(run_adapter(adapter))
    try:
        async with watching_status(bus) as watch:
            yield bus, watch
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.close()


async def dispatch(bus: Bus, adapter: str, upload: events_pb2.UploadReceived, options: Mapping[str, object]) -> None:
    """Hand ``upload`` to ``adapter`` as the router does (same event id each time: a redelivery)."""
    message = events_pb2.Dispatch(
        event_id=f"{upload.gateway_txid}/dispatch",
        upload=upload,
        adapter=adapter,
        options=route_options(options),
        attempt=1,
    )
    await bus.publish(dispatch_key(adapter), message, message.event_id)


class AdapterContract:
    """Subclass it as ``TestMyAdapterContract`` and fill in the hooks; pytest runs the checks."""

    adapter_class: ClassVar[type[Adapter[Any]]]
    # Fast retries, so the retry check takes seconds; the adapter's own settings are used otherwise.
    retry_settings: ClassVar[dict[str, Any]] = {"max_attempts": 2, "retry_delays": (0.5,)}

    def route_options(self) -> Mapping[str, object]:
        """Options of a route whose backend accepts files."""
        raise NotImplementedError

    def unreachable_options(self) -> Mapping[str, object]:
        """Options of a route whose backend cannot be reached (the delivery must be retried)."""
        raise NotImplementedError

    def delivered(self, upload: events_pb2.UploadReceived) -> int:
        """How many copies of this upload the backend holds."""
        raise NotImplementedError

    def response_case(self) -> tuple[Mapping[str, object], str] | None:
        """Route options and a file name the backend answers with a response file; None: it never does."""
        return None

    def _settings(self) -> AdapterSettings:
        return self.adapter_class.settings_model(**self.retry_settings)

    async def test_the_same_dispatch_twice_is_one_delivery(self, amqp_url: str, tmp_path: Path) -> None:
        async with running_adapter(self.adapter_class, amqp_url, tmp_path, **self.retry_settings) as (bus, watch):
            upload = upload_event(spool(tmp_path, b"<contract>idempotency</contract>\n"), tmp_path)
            for _ in range(2):
                await dispatch(bus, self.adapter_class.name, upload, self.route_options())
            events = await watch.wait(upload.gateway_txid, 2)
        # Each delivery says "accepted" (the status service records "sent" with it).
        assert [e.code for e in events] == [events_pb2.STATUS_CODE_ACCEPTED] * 2
        assert len({e.event_id for e in events}) == 1, "status events must have deterministic ids"
        assert self.delivered(upload) == 1, "a redelivered dispatch must not make a second copy"

    async def test_an_unreachable_backend_is_retried_then_fails_with_the_reason(
        self, amqp_url: str, tmp_path: Path
    ) -> None:
        attempts = self._settings().max_attempts
        async with running_adapter(self.adapter_class, amqp_url, tmp_path, **self.retry_settings) as (bus, watch):
            upload = upload_event(spool(tmp_path, b"<contract>retry</contract>\n"), tmp_path)
            await dispatch(bus, self.adapter_class.name, upload, self.unreachable_options())
            (event,) = await watch.wait(upload.gateway_txid, 1)
        assert event.code == events_pb2.STATUS_CODE_ERROR
        assert f"after {attempts} attempts" in event.error.message, event.error.message
        assert self.delivered(upload) == 0

    async def test_a_response_file_is_spooled_and_announced(self, amqp_url: str, tmp_path: Path) -> None:
        case = self.response_case()
        if case is None:
            import pytest  # noqa: PLC0415 - only test runs have pytest

            pytest.skip(f"adapter {self.adapter_class.name} never answers with response files")
        options, file_name = case
        async with running_adapter(self.adapter_class, amqp_url, tmp_path, **self.retry_settings) as (bus, watch):
            upload = upload_event(spool(tmp_path, b"<contract>response</contract>\n"), tmp_path, file_name=file_name)
            await dispatch(bus, self.adapter_class.name, upload, options)
            accepted, response = await watch.wait(upload.gateway_txid, 2)
        assert [e.code for e in (accepted, response)] == [
            events_pb2.STATUS_CODE_ACCEPTED,
            events_pb2.STATUS_CODE_RESPONSE,
        ]
        spooled = (tmp_path / upload.spool_path).parent / "responses" / response.response_file
        assert spooled.is_file()
        assert spooled.stat().st_size > 0
