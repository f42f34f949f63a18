"""The adapter base: a backend team writes one class with one async ``deliver`` method.

The base consumes the adapter's queue, validates the route's options against the adapter's
options model, opens the payload, retries transient failures through delayed retry queues,
turns the outcome into status events and counts it all in metrics.

    class MyOptions(RouteOptions):
        endpoint: str

    class MyAdapter(Adapter[MyOptions]):
        name = "my-backend"

        async def deliver(self, delivery: Delivery[MyOptions]) -> Accepted:
            ...  # raise TransientError to retry later, PermanentError to fail the transaction
            return Accepted(backend_txid="...")
"""

from __future__ import annotations

import abc
import asyncio
import json
import os
import random
import time
import typing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

import aio_pika.abc
from pydantic import Field, PositiveFloat, ValidationError

from gateway_common import metrics
from gateway_common.events import status_event
from gateway_common.logging import get_logger
from gateway_common.messaging import RK_STATUS, Bus, PoisonMessage, adapter_queue, retry_queue
from gateway_common.naming import Naming
from gateway_common.options import NoOptions, RouteOptions, SecretUnavailable
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.settings import ServiceSettings
from gateway_common.storage import TMP_PREFIX, StorageLayout, atomic_write

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


OptionsT = TypeVar("OptionsT", bound=RouteOptions)


@dataclass(frozen=True)
class Delivery(Generic[OptionsT]):
    """One file to deliver. ``idempotency_key`` is stable across retries and redeliveries."""

    upload: events_pb2.UploadReceived
    options: OptionsT
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


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to: accepted, refused (code 0 now) or retry (transient)."""

    result: Literal["accepted", "refused", "retry"]
    accepted: Accepted | None = None
    error: DeliveryError | None = None


def options_error(exc: ValidationError) -> str:
    """``field: problem`` for each error, never the offending value (it may be a pasted secret)."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors())


@dataclass
class Adapter(abc.ABC, Generic[OptionsT]):
    """Subclass as ``Adapter[MyOptions]``: the options model is taken from the type argument."""

    name: ClassVar[str]
    options_model: ClassVar[type[RouteOptions]] = NoOptions
    # The settings class `gateway-adapter run` reads; subclass AdapterSettings for an own http_port.
    settings_model: ClassVar[type[AdapterSettings]] = AdapterSettings
    settings: AdapterSettings
    bus: Bus = field(init=False)
    layout: StorageLayout = field(init=False)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if typing.get_origin(base) is Adapter:
                (model,) = typing.get_args(base)
                if isinstance(model, type) and issubclass(model, RouteOptions):
                    cls.options_model = model

    def __post_init__(self) -> None:
        self.layout = StorageLayout(self.settings.data_dir)
        self.bus = Bus(self.settings.amqp_url, self.settings.amqp_exchange, self.settings.amqp_prefetch)

    def readiness(self) -> str | None:
        """/readyz: red unless connected to the broker and consuming the adapter's queue."""
        return self.bus.readiness(adapter_queue(self.name))()

    @abc.abstractmethod
    async def deliver(self, delivery: Delivery[OptionsT]) -> Accepted: ...

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
        started = time.perf_counter()
        number = max(dispatch.attempt, 1)
        record = AttemptRecord(adapter=self.name, attempt=number, started_at=_now())
        try:
            outcome = await self.attempt(upload, dict(dispatch.options), number, path)
        finally:
            metrics.DELIVERY_SECONDS.labels(adapter=self.name).observe(time.perf_counter() - started)
        if isinstance(outcome.error, TransientError):
            metrics.DELIVERIES.labels(adapter=self.name, result="retry").inc()
            record.failed(*await self._retry_or_fail(dispatch, outcome.error, bound))
        elif outcome.error is not None:
            await self._fail(upload, outcome.error, bound)
            metrics.DELIVERIES.labels(adapter=self.name, result="refused").inc()
            record.failed("refused", outcome.error)
        else:
            accepted = outcome.accepted
            assert accepted is not None, "an outcome without an error is accepted"
            # One event: the status service records "accepted" with the "sent" (code 1) before
            # it, so a second message per delivery would only cost a publish, a broker write
            # and a status file rewrite.
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
            record.result, record.backend_txid = "accepted", accepted.backend_txid
            if accepted.response is not None:
                await self._respond(upload, accepted, accepted.response, bound)
        record.ended_at = _now()
        await self._keep_record(upload, record, bound)

    async def _keep_record(self, upload: events_pb2.UploadReceived, attempt: AttemptRecord, bound: Any) -> None:
        """Leave the attempt beside the payload for gateway-trace; the delivery never fails for it."""
        try:
            directory = self.layout.deliveries_dir(upload)
            await asyncio.to_thread(_write_record, directory / f"{attempt.attempt:03d}.json", attempt)
        except (OSError, ValueError) as exc:
            bound.warning("delivery attempt not recorded for tracing", error=repr(exc))

    async def attempt(
        self, upload: events_pb2.UploadReceived, options: dict[str, str], attempt: int, path: Path
    ) -> Outcome:
        """One delivery attempt, classified; no broker involved (the test kit calls this too)."""
        bound = log.bind(gateway_txid=upload.gateway_txid, service=upload.service, attempt=attempt)
        try:
            typed = typing.cast(OptionsT, self.options_model.model_validate(options))
        except ValidationError as exc:
            # The router refuses such tables; this catches an adapter newer or older than the router.
            return Outcome(
                "refused",
                error=PermanentError(
                    "route_misconfigured",
                    f"the route's options are not valid for adapter {self.name}: {options_error(exc)}",
                    "Contact the gateway operators.",
                ),
            )
        try:
            if not await asyncio.to_thread(path.is_file):
                raise PermanentError(
                    "payload_missing", "the uploaded file is no longer in the spool", "Upload the file again."
                )
            return Outcome("accepted", accepted=await self.deliver(Delivery(upload, typed, attempt, path)))
        except PermanentError as exc:
            return Outcome("refused", error=exc)
        except TransientError as exc:
            return Outcome("retry", error=exc)
        except SecretUnavailable as exc:
            refused = PermanentError("route_misconfigured", str(exc), "Contact the gateway operators.")
            return Outcome("refused", error=refused)
        except Exception as exc:
            bound.exception("adapter raised an unexpected error; treating it as transient")
            return Outcome("retry", error=TransientError("adapter_error", f"{type(exc).__name__}: {exc}"))

    async def _respond(
        self, upload: events_pb2.UploadReceived, accepted: Accepted, response: Response, bound: Any
    ) -> None:
        """Spool the backend's response file, then tell the status service to hand it out."""
        try:
            name = Naming.response(upload.service, upload.ftp_txid, response.name)
        except ValueError as exc:
            bound.warning("backend response dropped", reason=str(exc))
            return
        # Beside the payload, so both share one lifetime in the spool.
        spooled = self.layout.spool_path(upload.spool_path).parent / "responses" / name
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

    async def _retry_or_fail(
        self, dispatch: events_pb2.Dispatch, exc: TransientError, bound: object
    ) -> tuple[str, DeliveryError, float | None]:
        """Schedule the next attempt, or fail the transaction; return (result, error, delay)."""
        attempt = max(dispatch.attempt, 1)
        if attempt >= self.settings.max_attempts:
            exhausted = PermanentError(
                exc.code,
                f"delivery failed after {attempt} attempts: {exc.message}",
                exc.resolution or "The backend system is unavailable; upload the file again later.",
            )
            await self._fail(dispatch.upload, exhausted, bound)
            metrics.DELIVERIES.labels(adapter=self.name, result="exhausted").inc()
            return "exhausted", exhausted, None
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
        return "retry", exc, delay


@dataclass
class AttemptRecord:
    """One delivery attempt as gateway-trace shows it (spool/<gtxid>/deliveries/<attempt>.json)."""

    adapter: str
    attempt: int
    started_at: str
    ended_at: str = ""
    result: str = ""  # accepted, refused, retry or exhausted
    backend_txid: str = ""
    error_code: str = ""
    error_message: str = ""
    retry_in_seconds: float | None = None

    def failed(self, result: str, error: DeliveryError, retry_in: float | None = None) -> None:
        self.result, self.error_code, self.error_message = result, error.code, error.message
        self.retry_in_seconds = None if retry_in is None else round(retry_in, 3)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _write_record(path: Path, record: AttemptRecord) -> None:
    # Not fsync'd: a trace record lost in a crash costs a line of history, never a file, so it
    # must not add a disk sync to every delivery. The rename still keeps half a record unseen.
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}")
    tmp.write_text(json.dumps(asdict(record)))
    os.replace(tmp, path)


async def run_adapter(adapter: Adapter[Any]) -> None:
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
