"""adapter.py's outcome handling and retry arithmetic, with a real adapter on the real broker.

Retry delays here are long (minutes), so a retried dispatch waits in its retry queue where the
test reads it, with the expiration that carries the delay.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import aio_pika.abc
import pytest
from gateway_common.adapter import Accepted, Adapter, AdapterSettings, Delivery, PermanentError, TransientError
from gateway_common.messaging import QUEUE_STATUS, Bus, PoisonMessage, decode, retry_queue
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.storage import StorageLayout

from tests.support.bus import next_message, queue_length, upload_event

DELAYS = (60.0, 300.0)
MAX_ATTEMPTS = 4
JITTER = 0.2  # the base adds up to 20% to each delay


class UnitAdapter(Adapter):
    """Does what the test tells it: raise the given error, or accept."""

    name = "unit"
    error: ClassVar[Exception | None] = None

    async def deliver(self, delivery: Delivery) -> Accepted:
        if self.error is not None:
            raise self.error
        return Accepted(backend_txid="B-1", message="thanks")


@pytest.fixture
async def adapter(bus: Bus, tmp_path: Path) -> UnitAdapter:
    settings = AdapterSettings(data_dir=tmp_path, retry_delays=DELAYS, max_attempts=MAX_ATTEMPTS)
    made = UnitAdapter(settings)
    made.bus = bus
    made.layout = StorageLayout(tmp_path)
    made.layout.ensure()
    await bus.declare_adapter(made.name)
    await bus.declare_retries(made.name, len(DELAYS))
    await bus.declare_status()
    UnitAdapter.error = None
    return made


def _dispatch(adapter: UnitAdapter, attempt: int, txid: str = "a" * 32) -> events_pb2.Dispatch:
    upload = upload_event("svc", txid)
    payload = adapter.layout.spool_path(upload.spool_path)
    payload.parent.mkdir(parents=True, exist_ok=True)
    payload.write_bytes(b"hello")
    return events_pb2.Dispatch(event_id=f"{txid}/dispatch", upload=upload, adapter="unit", attempt=attempt)


async def _statuses(bus: Bus, count: int) -> list[events_pb2.StatusEvent]:
    events = [decode(await next_message(bus, QUEUE_STATUS)) for _ in range(count)]
    assert all(isinstance(event, events_pb2.StatusEvent) for event in events)
    return events  # type: ignore[return-value]


async def _retried(bus: Bus, level: int) -> tuple[aio_pika.abc.AbstractIncomingMessage, events_pb2.Dispatch]:
    message = await next_message(bus, retry_queue("unit", level))
    dispatch = decode(message)
    assert isinstance(dispatch, events_pb2.Dispatch)
    return message, dispatch


def _delay(message: aio_pika.abc.AbstractIncomingMessage) -> float:
    assert message.expiration is not None, "a retry carries its delay as the message's expiration"
    return float(message.expiration)


async def test_an_accepted_delivery_publishes_accepted_alone(adapter: UnitAdapter, bus: Bus) -> None:
    # The status service records the "sent" before it; a message of its own would only cost.
    await adapter.handle(_dispatch(adapter, 1), None)  # type: ignore[arg-type]
    (accepted,) = await _statuses(bus, 1)
    assert accepted.code == events_pb2.STATUS_CODE_ACCEPTED
    assert (accepted.backend_txid, accepted.message, accepted.source) == ("B-1", "thanks", "adapter/unit")
    assert await queue_length(bus, QUEUE_STATUS) == 0


@pytest.mark.parametrize(("attempt", "level"), [(1, 0), (2, 1), (3, 1)])
async def test_a_transient_error_is_retried_at_its_level_with_bounded_jitter(
    adapter: UnitAdapter, bus: Bus, attempt: int, level: int
) -> None:
    UnitAdapter.error = TransientError("busy", "backend busy")
    await adapter.handle(_dispatch(adapter, attempt), None)  # type: ignore[arg-type]
    message, retry = await _retried(bus, level)
    assert retry.attempt == attempt + 1
    assert message.message_id == f"{'a' * 32}/dispatch/{attempt + 1}"
    assert DELAYS[level] <= _delay(message) <= DELAYS[level] * (1 + JITTER)
    assert await queue_length(bus, QUEUE_STATUS) == 0  # no status while the gateway still retries


async def test_jitter_spreads_the_retries_within_its_bounds(adapter: UnitAdapter, bus: Bus) -> None:
    UnitAdapter.error = TransientError("busy", "backend busy")
    delays = []
    for index in range(12):
        await adapter.handle(_dispatch(adapter, 1, f"{index:032x}"), None)  # type: ignore[arg-type]
        delays.append(_delay((await _retried(bus, 0))[0]))
    assert all(DELAYS[0] <= delay <= DELAYS[0] * (1 + JITTER) for delay in delays)
    assert len(set(delays)) > 1, "every retry got the same delay: no jitter"


async def test_the_last_attempt_ends_in_an_error_status_and_no_retry(adapter: UnitAdapter, bus: Bus) -> None:
    UnitAdapter.error = TransientError("busy", "backend busy", "Try later.")
    await adapter.handle(_dispatch(adapter, MAX_ATTEMPTS), None)  # type: ignore[arg-type]
    (event,) = await _statuses(bus, 1)
    assert event.code == events_pb2.STATUS_CODE_ERROR
    assert event.error.code == "busy"
    assert event.error.message == f"delivery failed after {MAX_ATTEMPTS} attempts: backend busy"
    assert event.error.resolution == "Try later."
    for level in range(len(DELAYS)):
        assert await queue_length(bus, retry_queue("unit", level)) == 0


async def test_an_unexpected_exception_is_retried_like_a_transient_error(adapter: UnitAdapter, bus: Bus) -> None:
    UnitAdapter.error = KeyError("bug")
    await adapter.handle(_dispatch(adapter, 1), None)  # type: ignore[arg-type]
    _, retry = await _retried(bus, 0)
    assert retry.attempt == 2


async def test_a_permanent_error_fails_at_once(adapter: UnitAdapter, bus: Bus) -> None:
    UnitAdapter.error = PermanentError("bad_xml", "line 3 is not XML", "Correct the file.")
    await adapter.handle(_dispatch(adapter, 1), None)  # type: ignore[arg-type]
    (event,) = await _statuses(bus, 1)
    assert (event.code, event.error.code, event.error.message) == (
        events_pb2.STATUS_CODE_ERROR,
        "bad_xml",
        "line 3 is not XML",
    )
    assert await queue_length(bus, retry_queue("unit", 0)) == 0


async def test_a_payload_gone_from_the_spool_fails_without_calling_deliver(adapter: UnitAdapter, bus: Bus) -> None:
    UnitAdapter.error = AssertionError("deliver must not be called")
    dispatch = _dispatch(adapter, 1)
    adapter.layout.spool_path(dispatch.upload.spool_path).unlink()
    await adapter.handle(dispatch, None)  # type: ignore[arg-type]
    (event,) = await _statuses(bus, 1)
    assert event.error.code == "payload_missing"


@pytest.mark.parametrize("spool_path", ["../../etc/passwd", "/etc/passwd"])
async def test_a_spool_path_outside_the_spool_is_poison(adapter: UnitAdapter, spool_path: str) -> None:
    dispatch = _dispatch(adapter, 1)
    dispatch.upload.spool_path = spool_path
    with pytest.raises(PoisonMessage):
        await adapter.handle(dispatch, None)  # type: ignore[arg-type]
