"""RabbitMQ topology and the publish/consume helpers every service uses (aio-pika).

Topology (all durable, quorum queues, persistent messages, publisher confirms):

    exchange "gateway" (topic)
      upload.received      -> gateway.router.uploads      (router)
      dispatch.<adapter>   -> gateway.adapter.<adapter>   (adapter)
      status.event         -> gateway.status.events       (status service)
      parked.<queue>       -> gateway.parked              (operators; see README)
    gateway.adapter.<adapter>.retry.<n>: delayed retries, dead-lettered back to the adapter queue

A message's AMQP ``type`` is the protobuf full name of its body; ``message_id`` is its event id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import aio_pika.abc
from google.protobuf.message import DecodeError, Message

from gateway_common import metrics
from gateway_common.logging import get_logger
from gateway_common.proto.gateway.v1 import events_pb2

log = get_logger(__name__)

RK_UPLOAD = "upload.received"
RK_STATUS = "status.event"
QUEUE_UPLOADS = "gateway.router.uploads"
QUEUE_STATUS = "gateway.status.events"
QUEUE_PARKED = "gateway.parked"
# After this many deliveries of one message (crashes, handler errors) it is parked.
DELIVERY_LIMIT = 10
# A failing handler pauses before the message goes back, doubling per redelivery up to this
# (seconds), so that a dependency that is briefly away (full disk, NFS hiccup) does not park it.
MAX_FAILURE_PAUSE = 30.0
# Seconds between reconnection attempts of a lost broker connection.
RECONNECT_INTERVAL = 2.0

MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.DESCRIPTOR.full_name: cls for cls in (events_pb2.UploadReceived, events_pb2.Dispatch, events_pb2.StatusEvent)
}


def dispatch_key(adapter: str) -> str:
    return f"dispatch.{adapter}"


def adapter_queue(adapter: str) -> str:
    return f"gateway.adapter.{adapter}"


def retry_queue(adapter: str, level: int) -> str:
    return f"{adapter_queue(adapter)}.retry.{level}"


def parked_key(queue: str) -> str:
    return f"parked.{queue}"


class PoisonMessage(Exception):
    """The message can never be handled (undecodable, unknown type, invalid content)."""


Handler = Callable[[Any, aio_pika.abc.AbstractIncomingMessage], Awaitable[None]]


class Bus:
    """One robust broker connection per service: declares topology, publishes with confirms."""

    def __init__(self, url: str, exchange: str = "gateway", prefetch: int = 32) -> None:
        self.url = url
        self.exchange_name = exchange
        self.prefetch = prefetch
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        # Queues this bus consumes, and whether the last reconnect has restored their consumers.
        self._consuming: set[str] = set()
        self._restored = True
        self._closing = False

    @property
    def opened(self) -> bool:
        """True once connected and until closed, also while reconnecting."""
        return self._connection is not None and not self._connection.is_closed

    @property
    def connected(self) -> bool:
        """True while the connection is up; a robust connection that is reconnecting is not."""
        return self.opened and self._connection is not None and self._connection.connected.is_set()

    async def connect(self, timeout: float = 30.0) -> None:
        self._connection = await asyncio.wait_for(
            aio_pika.connect_robust(self.url, reconnect_interval=RECONNECT_INTERVAL), timeout
        )
        self._connection.reconnect_callbacks.add(self._on_reconnected)
        self._connection.close_callbacks.add(self._on_lost)
        metrics.AMQP_CONNECTED.set(1)
        # on_return_raises: without it a mandatory message the broker cannot route is
        # confirmed anyway and silently lost.
        self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        await self._channel.set_qos(prefetch_count=self.prefetch)
        self._exchange = await self._channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await self._declare(QUEUE_PARKED, "parked.#", dead_letter=False)

    def _on_lost(self, _connection: object, reason: object = None) -> None:
        metrics.AMQP_CONNECTED.set(0)
        was_up, self._restored = self._restored, False
        if was_up and not self._closing:
            # The one line an expected broker restart leaves (failed attempts while it is away
            # call this again); the client library's own lines about it stay below WARNING.
            log.warning("broker connection lost; reconnecting", reason=str(reason or "closed"))

    def _on_reconnected(self, _connection: object) -> None:
        # aio-pika calls this after it has restored the channels and their consumers.
        metrics.AMQP_CONNECTED.set(1)
        self._restored = True
        log.info("broker connection restored")

    def readiness(self, *queues: str) -> Callable[[], str | None]:
        """A /readyz check: red unless connected and consuming every one of ``queues``."""

        def check() -> str | None:
            if not self.connected:
                return "no broker connection"
            if not self._restored or self._channel is None or self._channel.is_closed:
                return "broker channel not restored yet"
            missing = [queue for queue in queues if queue not in self._consuming]
            return f"not consuming {', '.join(missing)}" if missing else None

        return check

    async def close(self) -> None:
        self._closing = True
        if self._connection is not None:
            await self._connection.close()
        metrics.AMQP_CONNECTED.set(0)

    @property
    def channel(self) -> aio_pika.abc.AbstractChannel:
        if self._channel is None:
            raise RuntimeError("bus is not connected")
        return self._channel

    @property
    def exchange(self) -> aio_pika.abc.AbstractExchange:
        if self._exchange is None:
            raise RuntimeError("bus is not connected")
        return self._exchange

    async def _declare(
        self, name: str, routing_key: str | None, *, dead_letter: bool = True, extra: dict[str, Any] | None = None
    ) -> aio_pika.abc.AbstractQueue:
        arguments: dict[str, Any] = {"x-queue-type": "quorum"}
        if dead_letter:
            arguments |= {
                "x-delivery-limit": DELIVERY_LIMIT,
                "x-dead-letter-exchange": self.exchange_name,
                "x-dead-letter-routing-key": parked_key(name),
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            }
        arguments |= extra or {}
        queue = await self.channel.declare_queue(name, durable=True, arguments=arguments)
        if routing_key is not None:
            await queue.bind(self.exchange, routing_key)
        return queue

    async def declare_uploads(self) -> aio_pika.abc.AbstractQueue:
        return await self._declare(QUEUE_UPLOADS, RK_UPLOAD)

    async def declare_status(self) -> aio_pika.abc.AbstractQueue:
        return await self._declare(QUEUE_STATUS, RK_STATUS)

    async def declare_adapter(self, adapter: str) -> aio_pika.abc.AbstractQueue:
        return await self._declare(adapter_queue(adapter), dispatch_key(adapter))

    async def declare_retries(self, adapter: str, levels: int) -> None:
        """The adapter's retry queues, one per backoff level.

        The delay travels as each message's expiration, so the queues' arguments do not
        depend on the configured delays and redeclaring them never conflicts.
        """
        for level in range(levels):
            # Retry queues have no consumer: a message waits out its expiration there and is
            # dead-lettered straight back to the adapter queue through the default exchange.
            await self._declare(
                retry_queue(adapter, level),
                None,
                dead_letter=False,
                extra={
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": adapter_queue(adapter),
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                },
            )

    def _message(self, body: Message, message_id: str, **properties: Any) -> aio_pika.Message:
        return aio_pika.Message(
            body=body.SerializeToString(),
            type=body.DESCRIPTOR.full_name,
            message_id=message_id,
            content_type="application/x-protobuf",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            **properties,
        )

    async def publish(self, routing_key: str, body: Message, message_id: str) -> None:
        """Publish to the gateway exchange and wait for the broker's confirm.

        ``mandatory`` makes an unroutable message an error instead of a silent drop.
        """
        await self.exchange.publish(self._message(body, message_id), routing_key, mandatory=True)

    async def publish_to_queue(
        self, queue: str, body: Message, message_id: str, expiration: float | None = None
    ) -> None:
        """Publish straight to one queue (retry levels), waiting for the confirm."""
        message = self._message(body, message_id, expiration=expiration)
        await self.channel.default_exchange.publish(message, queue, mandatory=True)

    async def park(self, queue: str, message: aio_pika.abc.AbstractIncomingMessage, reason: str) -> None:
        headers = dict(message.headers or {})
        headers |= {"x-parked-from": queue, "x-parked-reason": reason[:500]}
        parked = resend(message, headers)
        await self.exchange.publish(parked, parked_key(queue), mandatory=True)
        metrics.MESSAGES_PARKED.labels(queue=queue, reason=reason.split(":", 1)[0]).inc()
        log.warning("message parked", queue=queue, message_id=message.message_id, reason=reason)

    async def consume(self, queue: aio_pika.abc.AbstractQueue, handler: Handler) -> None:
        """Run ``handler(decoded, raw)`` for each message; ack when it returns.

        Poison messages are parked at once. A handler error leaves the message to be
        redelivered (after a pause, so a broken dependency does not spin the CPU); the
        quorum queue's delivery limit parks it if it keeps failing.
        """
        name = queue.name
        # Both parking reasons exist from the start at 0: otherwise the first message parked after
        # a (re)start creates its series at 1, which increase() cannot see, and nobody is paged.
        for reason in ("poison", "invalid"):
            metrics.MESSAGES_PARKED.labels(queue=name, reason=reason)

        async def park_or_return(message: aio_pika.abc.AbstractIncomingMessage, reason: str) -> None:
            try:
                await self.park(name, message, reason)
            except Exception:
                # Not parked: hand it back rather than hold it unacknowledged until the channel drops.
                log.exception("could not park a message; returning it to its queue", queue=name)
                await message.nack(requeue=True)
                return
            await message.ack()
            metrics.MESSAGES_CONSUMED.labels(queue=name, outcome="parked").inc()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            try:
                decoded = decode(message)
            except PoisonMessage as exc:
                await park_or_return(message, f"poison: {exc}")
                return
            try:
                await handler(decoded, message)
            except PoisonMessage as exc:
                await park_or_return(message, f"invalid: {exc}")
            except Exception:
                pause = failure_pause(message)
                log.exception(
                    "handler failed; message will be redelivered",
                    queue=name,
                    message_id=message.message_id,
                    pause=pause,
                )
                metrics.MESSAGES_CONSUMED.labels(queue=name, outcome="failed").inc()
                await asyncio.sleep(pause)
                await message.nack(requeue=True)
            else:
                await message.ack()
                metrics.MESSAGES_CONSUMED.labels(queue=name, outcome="ok").inc()

        await queue.consume(on_message)
        self._consuming.add(name)


def failure_pause(message: aio_pika.abc.AbstractIncomingMessage) -> float:
    """1 s after the first failure, doubling with the quorum queue's delivery count."""
    count = (message.headers or {}).get("x-delivery-count", 0)
    previous = count if isinstance(count, int) and count > 0 else 0
    return float(min(2.0**previous, MAX_FAILURE_PAUSE))


def decode(message: aio_pika.abc.AbstractIncomingMessage) -> Message:
    cls = MESSAGE_TYPES.get(message.type or "")
    if cls is None:
        raise PoisonMessage(f"unknown message type {message.type!r}")
    body = cls()
    try:
        body.ParseFromString(message.body)
    except DecodeError as exc:
        raise PoisonMessage(f"undecodable {message.type}: {exc}") from exc
    return body


def resend(message: aio_pika.abc.AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    """A persistent copy of a received message with other headers (to park or replay it)."""
    return aio_pika.Message(
        body=message.body,
        type=message.type,
        message_id=message.message_id,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers=headers,
    )
