"""Per-transaction status history on shared storage, safe across replicas and redeliveries."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from gateway_common.events import GATEWAY_TXID
from gateway_common.messaging import PoisonMessage
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.storage import atomic_write

# Later stages win; within a stage the later event wins. A late "sent" therefore never
# replaces "accepted", and a response outranks both.
_STAGE = {
    events_pb2.STATUS_CODE_SENT: 1,
    events_pb2.STATUS_CODE_ACCEPTED: 2,
    events_pb2.STATUS_CODE_ERROR: 2,
    events_pb2.STATUS_CODE_RESPONSE: 3,
}


def _order(event: events_pb2.StatusEvent) -> int:
    return event.occurred_at.ToNanoseconds()


def current_status(history: list[events_pb2.StatusEvent]) -> events_pb2.StatusEvent:
    return max(history, key=lambda e: (_STAGE[e.code], _order(e)))


class Ledger:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @contextlib.contextmanager
    def locked(self, gateway_txid: str) -> Iterator[None]:
        """Hold the transaction's lock (across replicas) while its history and files change.

        The status files must be written under the same lock as the history: otherwise a slower
        writer could replace a newer status file with an older one.
        """
        if not GATEWAY_TXID.fullmatch(gateway_txid):
            raise PoisonMessage(f"status event with malformed gateway_txid {gateway_txid!r}")
        with (self.directory / f"{gateway_txid}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def history_with(self, event: events_pb2.StatusEvent) -> tuple[list[events_pb2.StatusEvent], bool]:
        """The transaction's history with ``event`` added, and whether it was new; nothing is saved.

        Call while holding ``locked(event.gateway_txid)``, and ``save`` the history once the
        event's files are written.
        """
        if event.code not in _STAGE:
            raise PoisonMessage(f"status event with unknown code {event.code}")
        events = self.history(event.gateway_txid)
        if any(e.event_id == event.event_id for e in events):
            return events, False
        events.append(event)
        events.sort(key=_order)
        return events, True

    def history(self, gateway_txid: str) -> list[events_pb2.StatusEvent]:
        path = self.directory / f"{gateway_txid}.pb"
        history = events_pb2.StatusHistory()
        if path.exists():
            history.ParseFromString(path.read_bytes())
        return list(history.events)

    def save(self, gateway_txid: str, events: list[events_pb2.StatusEvent]) -> None:
        atomic_write(self.directory / f"{gateway_txid}.pb", events_pb2.StatusHistory(events=events).SerializeToString())
