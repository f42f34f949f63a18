"""A real broker connection for unit tests, and reading what the code under test published."""

from __future__ import annotations

import asyncio
import time

import aio_pika.abc
from gateway_common.events import new_id
from gateway_common.identity import CertificateKind, Identity
from gateway_common.messaging import QUEUE_PARKED, QUEUE_STATUS, QUEUE_UPLOADS, Bus, adapter_queue, retry_queue
from gateway_common.proto.gateway.v1 import events_pb2

# Adapter names the unit tests declare queues for; their queues are deleted after each test.
TEST_ADAPTERS = ("unit", "http", "heartbeat")


async def next_message(bus: Bus, queue: str, timeout: float = 20.0) -> aio_pika.abc.AbstractIncomingMessage:
    """The next message waiting in ``queue`` (acknowledged), or AssertionError after ``timeout``."""
    declared = await bus.channel.get_queue(queue, ensure=True)
    deadline = time.monotonic() + timeout
    while True:
        message = await declared.get(fail=False, no_ack=True)
        if message is not None:
            return message
        assert time.monotonic() < deadline, f"nothing arrived in {queue} within {timeout}s"
        await asyncio.sleep(0.05)


async def queue_length(bus: Bus, queue: str) -> int:
    """Messages ready in ``queue``, as the broker counts them now.

    Asked on the underlying channel: aio-pika's robust channel answers a passive declaration
    of a queue it declared before with that queue object (whose count is from then, so 0).
    """
    channel = await bus.channel.get_underlay_channel()
    declared = await channel.queue_declare(queue, passive=True)
    return int(declared.message_count or 0)


async def clean(bus: Bus) -> None:
    """Delete the queues tests declare, so the next test starts from an empty topology."""
    names = [QUEUE_UPLOADS, QUEUE_STATUS, QUEUE_PARKED]
    for adapter in TEST_ADAPTERS:
        names += [adapter_queue(adapter), *(retry_queue(adapter, level) for level in range(6))]
    for name in names:
        await bus.channel.queue_delete(name)


def sender(kind: CertificateKind = CertificateKind.EMPLOYEE) -> Identity:
    if kind is CertificateKind.PERSONAL:
        return Identity(kind, "OCES2", "9208-2002-2-123456789012", "PID:9208-2002-2-123456789012", "Test Person")
    return Identity(kind, "OCES2", "45490598", "CVR:30808460-RID:45490598", "Test Employee", "30808460")


def upload_event(
    service: str = "svc",
    gateway_txid: str = "0" * 32,
    kind: CertificateKind = CertificateKind.EMPLOYEE,
    **fields: object,
) -> events_pb2.UploadReceived:
    values: dict[str, object] = {
        "event_id": new_id(),  # as the ingress makes them: hex, a file name in the outbox
        "gateway_txid": gateway_txid,
        "sender": sender(kind).to_proto(),
        "service": service,
        "ftp_txid": "tx-1",
        "file_name": "tx-1",
        "spool_path": f"spool/{gateway_txid}/payload",
        "size": 5,
        "sha256": "00" * 32,
    } | fields
    return events_pb2.UploadReceived(**values)  # type: ignore[arg-type]
