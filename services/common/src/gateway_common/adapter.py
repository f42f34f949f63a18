"""The adapter base: a backend team writes one class with one async ``deliver`` method.

The base consumes the adapter's queue, opens the payload, retries transient failures through
delayed retry queues, turns the outcome into status events and counts it all in metrics.

    class MyAdapter(Adapter):
        name = "my-backend"

        async def deliver(self, delivery: Delivery) -> Accepted:
            ...  # raise TransientError to retry later, PermanentError to fail the transaction
            return Accepted(backend_txid="...")
"""

from __future__ import annotations

import abc
import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import aio_pika.abc
from pydantic import Field, PositiveFloat

from gateway_common import metrics
from gateway_common.events import response_file_name, status_event
from gateway_common.logging import get_logger
from gateway_common.messaging import RK_STATUS, Bus, PoisonMessage, adapter_queue, retry_queue
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.settings import ServiceSettings
from gateway_common.storage import StorageLayout, atomic_write

log = get_logger(__name__)


class AdapterSettings(ServiceSettings):
    max_attempts: int = Field(default=5, ge=1, description="Delivery attempts before code 0.")
    retry_delays: tuple[PositiveFloat, ...] = Field(
        default=(2.0, 10.0, 60.0, 300.0),
        min_length=1,
        description=(
            "Seconds before retry 1, 2, ... (JSON list); the last is reused until attempts run out. "
            "Each delay gets up to 20% random jitter."
        ),
    )


@dataclass(frozen=True)
class Delivery:
    """One file to deliver. ``idempotency_key`` is stable across retries and redeliveries."""

    upload: events_pb2.UploadReceived
    options: dict[str, str]
    attempt: int
    path: Path

    @property
    def idempotency_key(self) -> str:
        return self.upload.gateway_txid


@dataclass(frozen=True)
class Response:
    """A file the backend answers with; it is placed in the sender's /out (status code 3)."""

    name: str
    content: bytes


@dataclass(frozen=True)
class Accepted:
    backend_txid: str = ""
    message: str = ""
    response: Response | None = None


class DeliveryError(Exception):
    def __init__(self, code: str, message: str, resolution: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.resolution = resolution


class PermanentError(DeliveryError):
    """The backend refused the file; retrying cannot help."""


class TransientError(DeliveryError):
    """The backend could not take the file now; the delivery is retried later."""


@dataclass
class Adapter(abc.ABC):
    name: ClassVar[str]
    settings: AdapterSettings
    bus: Bus = field(init=False)
    layout: StorageLayout = field(init=False)

    def __post_init__(self) -> None:
        self.layout = StorageLayout(self.settings.data_dir)
        self.bus = Bus(self.settings.amqp_url, self.settings.amqp_exchange, self.settings.amqp_prefetch)

    def readiness(self) -> str | None:
        """/readyz: red unless connected to the broker and consuming the adapter's queue."""
        return self.bus.readiness(adapter_queue(self.name))()

    @abc.abstractmethod
    async def deliver(self, delivery: Delivery) -> Accepted: ...

    async def start(self) -> None:
        """Open clients or pools the adapter needs."""

    async def stop(self) -> None:
        """Release what ``start`` opened."""

    @property
    def source(self) -> str:
        return f"adapter/{self.name}"

    async def handle(self, dispatch: events_pb2.Dispatch, _raw: aio_pika.abc.AbstractIncomingMessage) -> None:
        if not isinstance(dispatch, events_pb2.Dispatch) or not dispatch.upload.gateway_txid:
            raise PoisonMessage("adapter queue expects a Dispatch with an upload")
        upload = dispatch.upload
        bound = log.bind(gateway_txid=upload.gateway_txid, service=upload.service, attempt=dispatch.attempt)
        try:
            path = self.layout.spool_path(upload.spool_path)
        except ValueError as exc:
            raise PoisonMessage(str(exc)) from exc
        delivery = Delivery(upload, dict(dispatch.options), max(dispatch.attempt, 1), path)
        started = time.perf_counter()
        try:
            if not path.is_file():
                raise PermanentError(
                    "payload_missing", "the uploaded file is no longer in the spool", "Upload the file again."
                )
            accepted = await self.deliver(delivery)
        except PermanentError as exc:
            await self._fail(upload, exc, bound)
            metrics.DELIVERIES.labels(adapter=self.name, result="refused").inc()
        except TransientError as exc:
            metrics.DELIVERIES.labels(adapter=self.name, result="retry").inc()
            await self._retry_or_fail(dispatch, exc, bound)
        except Exception as exc:
            bound.exception("adapter raised an unexpected error; treating it as transient")
            metrics.DELIVERIES.labels(adapter=self.name, result="retry").inc()
            await self._retry_or_fail(dispatch, TransientError("adapter_error", f"{type(exc).__name__}: {exc}"), bound)
        else:
            event = status_event(
                upload,
                events_pb2.STATUS_CODE_ACCEPTED,
                self.source,
                message=accepted.message,
                backend_txid=accepted.backend_txid,
            )
            await self.bus.publish(RK_STATUS, event, event.event_id)
            metrics.DELIVERIES.labels(adapter=self.name, result="accepted").inc()
            bound.info("delivered", backend_txid=accepted.backend_txid)
            if accepted.response is not None:
                await self._respond(upload, accepted, accepted.response, bound)
        finally:
            metrics.DELIVERY_SECONDS.labels(adapter=self.name).observe(time.perf_counter() - started)

    async def _respond(
        self, upload: events_pb2.UploadReceived, accepted: Accepted, response: Response, bound: Any
    ) -> None:
        """Spool the backend's response file, then tell the status service to hand it out."""
        try:
            name = response_file_name(upload, response.name)
        except ValueError as exc:
            bound.warning("backend response dropped", reason=str(exc))
            return
        spooled = self.layout.spool_dir / upload.gateway_txid / "responses" / name
        await asyncio.to_thread(spooled.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(atomic_write, spooled, response.content)
        event = status_event(
            upload,
            events_pb2.STATUS_CODE_RESPONSE,
            self.source,
            backend_txid=accepted.backend_txid,
            response_file=name,
        )
        await self.bus.publish(RK_STATUS, event, event.event_id)
        bound.info("backend response spooled", response_file=name, size=len(response.content))

    async def _fail(self, upload: events_pb2.UploadReceived, exc: DeliveryError, bound: object) -> None:
        error = events_pb2.StatusError(code=exc.code, message=exc.message, resolution=exc.resolution)
        event = status_event(upload, events_pb2.STATUS_CODE_ERROR, self.source, error=error)
        await self.bus.publish(RK_STATUS, event, event.event_id)
        log.warning("delivery failed", gateway_txid=upload.gateway_txid, code=exc.code, reason=exc.message)

    async def _retry_or_fail(self, dispatch: events_pb2.Dispatch, exc: TransientError, bound: object) -> None:
        attempt = max(dispatch.attempt, 1)
        if attempt >= self.settings.max_attempts:
            exhausted = PermanentError(
                exc.code,
                f"delivery failed after {attempt} attempts: {exc.message}",
                exc.resolution or "The backend system is unavailable; upload the file again later.",
            )
            await self._fail(dispatch.upload, exhausted, bound)
            metrics.DELIVERIES.labels(adapter=self.name, result="exhausted").inc()
            return
        delays = self.settings.retry_delays
        level = min(attempt - 1, len(delays) - 1)
        delay = delays[level] * (1 + random.uniform(0, 0.2))  # noqa: S311 - jitter, not crypto
        retry = events_pb2.Dispatch()
        retry.CopyFrom(dispatch)
        retry.attempt = attempt + 1
        await self.bus.publish_to_queue(
            retry_queue(self.name, level), retry, f"{dispatch.event_id}/{attempt + 1}", expiration=delay
        )
        log.info(
            "delivery will be retried",
            gateway_txid=dispatch.upload.gateway_txid,
            attempt=attempt,
            delay=round(delay, 1),
            reason=exc.message,
        )


async def run_adapter(adapter: Adapter) -> None:
    """Connect, declare the adapter's queues and consume until cancelled."""
    settings = adapter.settings
    await adapter.bus.connect()
    await adapter.start()
    try:
        queue = await adapter.bus.declare_adapter(adapter.name)
        await adapter.bus.declare_retries(adapter.name, len(settings.retry_delays))
        await adapter.bus.declare_status()
        await adapter.bus.consume(queue, adapter.handle)
        log.info("adapter consuming", adapter=adapter.name, queue=queue.name)
        await asyncio.Future()
    finally:
        await adapter.stop()
        await adapter.bus.close()
