"""gateway-replay: operators' tool to send parked messages back and to redo failed transactions.

    gateway-replay parked                   list the parking queue (nothing is moved)
    gateway-replay parked --replay ID ...   move these parked messages back to their origin queue
    gateway-replay parked --replay-all      move every parked message back
    gateway-replay transaction GTXID ...    route these transactions again from the spool

Parked messages go back to the queue named in their ``x-parked-from`` header (set when a
consumer parks a poison message) or, for messages dead-lettered by the delivery limit, in
``x-first-death-queue``. Replaying a transaction republishes its upload event; adapters see
the same idempotency key, and the status history gains only outcomes it does not have yet.
Connection and storage come from the usual GATEWAY_* settings.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Mapping
from typing import Any

import aio_pika
import aio_pika.abc

from gateway_common.events import GATEWAY_TXID, new_id, upload_from_status
from gateway_common.messaging import QUEUE_PARKED, RK_UPLOAD, Bus, resend
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.settings import ServiceSettings
from gateway_common.storage import StorageLayout

_RETRY_LEVEL = re.compile(r"\.retry\.\d+$")
_PARKING_HEADERS = ("x-parked-from", "x-parked-reason", "x-death", "x-first-death-queue", "x-first-death-reason")


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode()
    return value if isinstance(value, str) and value else None


def origin_queue(headers: Mapping[str, Any]) -> str | None:
    """The queue a parked message should go back to.

    Parked by a consumer: its x-parked-from header. Dead-lettered by a queue's delivery limit:
    the newest x-death entry (the list is newest first; x-first-death-queue may name a retry
    queue the message merely waited in once), with a retry queue mapped to its adapter queue.
    """
    if parked_from := _text(headers.get("x-parked-from")):
        return parked_from
    deaths = headers.get("x-death")
    newest = deaths[0] if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict) else {}
    if queue := _text(newest.get("queue")):
        return _RETRY_LEVEL.sub("", queue)
    return _text(headers.get("x-first-death-queue"))


def _describe(message: aio_pika.abc.AbstractIncomingMessage) -> str:
    headers = message.headers or {}
    reason = headers.get("x-parked-reason") or headers.get("x-first-death-reason") or ""
    return f"{message.message_id}\t{message.type}\tfrom={origin_queue(message.headers or {})}\treason={reason!s}"


async def parked(settings: ServiceSettings, replay: set[str] | None, replay_all: bool) -> int:
    """List the parking queue, moving the chosen messages back; return how many were moved."""
    connection = await aio_pika.connect(settings.amqp_url)
    moved = 0
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        queue = await channel.declare_queue(QUEUE_PARKED, passive=True)
        count = queue.declaration_result.message_count or 0
        # Messages stay unacked (so each is seen once) until the channel closes; whatever was
        # not moved then goes back to the parking queue untouched.
        for _ in range(count):
            message = await queue.get(fail=False)
            if message is None:
                break
            print(_describe(message))
            if not replay_all and message.message_id not in (replay or set()):
                continue
            origin = origin_queue(message.headers or {})
            if origin is None:
                print(f"  {message.message_id}: no origin queue recorded; left parked", file=sys.stderr)
                continue
            headers: dict[str, Any] = {k: v for k, v in (message.headers or {}).items() if k not in _PARKING_HEADERS}
            again = resend(message, headers)
            await channel.default_exchange.publish(again, origin, mandatory=True)
            await message.ack()
            moved += 1
            print(f"  -> moved back to {origin}")
    return moved


def upload_of(layout: StorageLayout, gateway_txid: str) -> events_pb2.UploadReceived:
    """Rebuild a transaction's upload event from its status history and its spooled payload."""
    if not GATEWAY_TXID.fullmatch(gateway_txid):
        raise LookupError(f"not a gateway transaction id: {gateway_txid!r}")
    ledger = layout.find_ledger(gateway_txid)
    if ledger is None:
        raise LookupError(f"transaction {gateway_txid} has no status history (unknown, or expired)")
    history = events_pb2.StatusHistory()
    history.ParseFromString(ledger.read_bytes())
    if not history.events:
        raise LookupError(f"transaction {gateway_txid} has no status history")
    first = history.events[0]
    payload = layout.find_spool_txn(gateway_txid) / "payload"
    if not payload.is_file():
        raise LookupError(f"the payload of {gateway_txid} is no longer in the spool")
    return upload_from_status(
        first, event_id=new_id(), spool_path=layout.relative(payload), ingress_node="gateway-replay"
    )


async def transactions(settings: ServiceSettings, gateway_txids: list[str]) -> None:
    layout = StorageLayout(settings.data_dir)
    events = [upload_of(layout, txid) for txid in gateway_txids]
    bus = Bus(settings.amqp_url, settings.amqp_exchange)
    await bus.connect()
    try:
        await bus.declare_uploads()
        for event in events:
            await bus.publish(RK_UPLOAD, event, event.event_id)
            print(f"{event.gateway_txid}: routed again ({event.service}, {event.ftp_txid})")
    finally:
        await bus.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gateway-replay", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    park = commands.add_parser("parked", help="list parked messages; move chosen ones back")
    park.add_argument("--replay", nargs="+", metavar="MESSAGE_ID", help="move these messages back")
    park.add_argument("--replay-all", action="store_true", help="move every parked message back")
    redo = commands.add_parser("transaction", help="route transactions again from the spool")
    redo.add_argument("gateway_txid", nargs="+")
    args = parser.parse_args(argv)
    settings = ServiceSettings()
    try:
        if args.command == "parked":
            moved = asyncio.run(parked(settings, set(args.replay or ()), args.replay_all))
            print(f"{moved} message(s) moved back")
        else:
            asyncio.run(transactions(settings, args.gateway_txid))
    except (LookupError, OSError) as exc:
        parser.exit(1, f"gateway-replay: {exc}\n")
