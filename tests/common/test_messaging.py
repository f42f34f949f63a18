"""messaging.py against the real broker: confirms, unroutable messages, parking, redelivery, retries."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import aio_pika
import aio_pika.exceptions
import pytest
from gateway_common import messaging
from gateway_common.messaging import (
    QUEUE_PARKED,
    QUEUE_UPLOADS,
    RK_UPLOAD,
    Bus,
    PoisonMessage,
    adapter_queue,
    failure_pause,
    retry_queue,
)
from gateway_common.proto.gateway.v1 import events_pb2

from tests.support.broker import close_connections
from tests.support.bus import next_message, queue_length, upload_event


async def test_publish_waits_for_the_confirm_and_sends_a_typed_persistent_message(bus: Bus) -> None:
    await bus.declare_uploads()
    event = upload_event()
    await bus.publish(RK_UPLOAD, event, event.event_id)
    message = await next_message(bus, QUEUE_UPLOADS)
    assert message.type == "gateway.v1.UploadReceived"
    assert message.message_id == event.event_id
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.content_type == "application/x-protobuf"
    assert messaging.decode(message) == event


async def test_an_unroutable_message_is_an_error_not_a_silent_drop(bus: Bus) -> None:
    event = upload_event()
    with pytest.raises(aio_pika.exceptions.PublishError):
        await bus.publish("nobody.listens", event, event.event_id)


async def test_queues_are_quorum_queues_that_park_after_the_delivery_limit(bus: Bus) -> None:
    queue = await bus.declare_uploads()
    # Redeclaring with other arguments fails: the arguments below are what the broker holds.
    channel = await bus._connection.channel()  # type: ignore[union-attr]
    with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
        await channel.declare_queue(queue.name, durable=True, arguments={"x-queue-type": "classic"})
    same = await bus.declare_uploads()  # the real arguments redeclare without conflict
    assert same.name == QUEUE_UPLOADS


async def _consume_one(bus: Bus, queue: Any, handler: Any, body: bytes, type_: str) -> None:
    await bus.consume(queue, handler)
    await bus.exchange.publish(
        aio_pika.Message(body, type=type_, message_id="m-1", headers={"x-test": "kept"}), RK_UPLOAD, mandatory=True
    )


async def test_a_message_of_unknown_type_is_parked_with_its_reason(bus: Bus) -> None:
    queue = await bus.declare_uploads()
    calls: list[object] = []

    async def handler(decoded: object, _raw: object) -> None:
        calls.append(decoded)

    await _consume_one(bus, queue, handler, b"junk", "something.Else")
    parked = await next_message(bus, QUEUE_PARKED)
    assert parked.body == b"junk"
    assert parked.message_id == "m-1"
    assert parked.headers["x-parked-from"] == QUEUE_UPLOADS
    assert str(parked.headers["x-parked-reason"]).startswith("poison: unknown message type")
    assert parked.headers["x-test"] == "kept"
    assert calls == []
    await asyncio.sleep(0.2)
    assert await queue_length(bus, QUEUE_UPLOADS) == 0  # acknowledged, not left behind


async def test_an_undecodable_body_is_parked(bus: Bus) -> None:
    queue = await bus.declare_uploads()

    async def handler(_decoded: object, _raw: object) -> None:
        raise AssertionError("never called for an undecodable body")

    await _consume_one(bus, queue, handler, b"\xff\xff\xff", "gateway.v1.UploadReceived")
    parked = await next_message(bus, QUEUE_PARKED)
    assert str(parked.headers["x-parked-reason"]).startswith("poison: undecodable gateway.v1.UploadReceived")


async def test_a_message_the_handler_calls_invalid_is_parked(bus: Bus) -> None:
    queue = await bus.declare_uploads()

    async def handler(_decoded: object, _raw: object) -> None:
        raise PoisonMessage("no transaction id")

    await _consume_one(bus, queue, handler, upload_event().SerializeToString(), "gateway.v1.UploadReceived")
    parked = await next_message(bus, QUEUE_PARKED)
    assert parked.headers["x-parked-reason"] == "invalid: no transaction id"


async def test_a_failing_handler_gets_the_message_again_after_a_pause(bus: Bus) -> None:
    queue = await bus.declare_uploads()
    seen: list[tuple[float, events_pb2.UploadReceived]] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def handler(decoded: events_pb2.UploadReceived, _raw: object) -> None:
        seen.append((loop.time(), decoded))
        if len(seen) == 1:
            raise OSError("disk briefly away")
        done.set()

    event = upload_event()
    await bus.consume(queue, handler)
    await bus.publish(RK_UPLOAD, event, event.event_id)
    await asyncio.wait_for(done.wait(), 30)
    assert [decoded for _, decoded in seen] == [event, event]
    assert seen[1][0] - seen[0][0] >= 1.0  # the first failure pauses 1 s before the message goes back
    await asyncio.sleep(0.2)
    assert await queue_length(bus, QUEUE_UPLOADS) == 0
    assert await queue_length(bus, QUEUE_PARKED) == 0


@pytest.mark.parametrize(
    ("headers", "pause"),
    [
        (None, 1.0),
        ({}, 1.0),
        ({"x-delivery-count": 1}, 2.0),
        ({"x-delivery-count": 3}, 8.0),
        ({"x-delivery-count": 9}, messaging.MAX_FAILURE_PAUSE),
        ({"x-delivery-count": "bad"}, 1.0),
        ({"x-delivery-count": -4}, 1.0),
    ],
)
def test_failure_pause_doubles_per_delivery_up_to_its_cap(headers: dict[str, Any] | None, pause: float) -> None:
    # failure_pause reads only the headers the broker set; a plain object carries them.
    assert failure_pause(SimpleNamespace(headers=headers)) == pause  # type: ignore[arg-type]


async def test_a_retry_queue_hands_the_message_back_to_the_adapter_queue_when_it_expires(bus: Bus) -> None:
    await bus.declare_adapter("unit")
    await bus.declare_retries("unit", 2)
    await bus.declare_retries("unit", 2)  # redeclaring never conflicts (delays travel per message)
    dispatch = events_pb2.Dispatch(event_id="d-1", upload=upload_event(), adapter="unit", attempt=2)
    await bus.publish_to_queue(retry_queue("unit", 1), dispatch, "d-1/2", expiration=0.3)
    back = await next_message(bus, adapter_queue("unit"))
    assert back.message_id == "d-1/2"
    assert messaging.decode(back) == dispatch
    assert await queue_length(bus, retry_queue("unit", 1)) == 0


async def test_the_bus_reconnects_after_the_broker_drops_it(bus: Bus, amqp_url: str) -> None:
    await bus.declare_uploads()
    await asyncio.to_thread(close_connections, amqp_url)
    dropped = False
    for _ in range(200):
        if not bus.connected:
            dropped = True
            break
        await asyncio.sleep(0.05)
    assert dropped, "the broker did not drop the connection"
    assert bus.opened  # a robust connection that is reconnecting is still open...
    for _ in range(600):
        if bus.connected:
            break
        await asyncio.sleep(0.1)
    assert bus.connected  # ...and comes back by itself
    event = upload_event()
    for _ in range(100):  # the channel is restored just after the connection
        try:
            await bus.publish(RK_UPLOAD, event, event.event_id)
            break
        except (aio_pika.exceptions.AMQPError, RuntimeError, ConnectionError):
            await asyncio.sleep(0.1)
    assert messaging.decode(await next_message(bus, QUEUE_UPLOADS)) == event


def test_routing_key_and_queue_names() -> None:
    assert messaging.dispatch_key("http") == "dispatch.http"
    assert adapter_queue("http") == "gateway.adapter.http"
    assert retry_queue("http", 2) == "gateway.adapter.http.retry.2"
    assert messaging.parked_key(QUEUE_UPLOADS) == "parked.gateway.router.uploads"


async def test_queue_length_counts_the_messages_waiting(bus: Bus) -> None:
    # The tests' "nothing left behind" checks rely on it; a queue declared on the bus's own
    # channel once answered 0 there whatever waited in it.
    await bus.declare_uploads()
    for _ in range(3):
        event = upload_event()
        await bus.publish(RK_UPLOAD, event, event.event_id)
    assert await queue_length(bus, QUEUE_UPLOADS) == 3
