"""Per-transaction status history on shared storage, safe across replicas and redeliveries.

Histories live in shard folders (``<shard>/<gateway_txid>.pb``); one written before sharding
(``<gateway_txid>.pb``) is read where it is and moved into its shard by its next update.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from gateway_common.events import GATEWAY_TXID, sent_before
from gateway_common.messaging import PoisonMessage
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.storage import atomic_write, find_sharded, fsync_dir, in_shard, lock_file, shard_of

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


FINAL_CODES = frozenset({events_pb2.STATUS_CODE_ACCEPTED, events_pb2.STATUS_CODE_ERROR})


def read_history(path: Path) -> list[events_pb2.StatusEvent]:
    history = events_pb2.StatusHistory()
    history.ParseFromString(path.read_bytes())
    return list(history.events)


class Ledger:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, gateway_txid: str) -> Path:
        return in_shard(self.directory, gateway_txid, f"{gateway_txid}.pb")

    def find(self, gateway_txid: str) -> Path | None:
        """Where the history of ``gateway_txid`` is stored (sharded or flat), if anywhere."""
        return find_sharded(self.directory, gateway_txid, f"{gateway_txid}.pb")

    @contextlib.contextmanager
    def locked(self, gateway_txid: str) -> Iterator[None]:
        """Hold the transaction's lock (across replicas) while its history and files change.

        The status files must be written under the same lock as the history: otherwise a slower
        writer could replace a newer status file with an older one.
        """
        if not GATEWAY_TXID.fullmatch(gateway_txid):
            raise PoisonMessage(f"status event with malformed gateway_txid {gateway_txid!r}")
        shard = self.directory / shard_of(gateway_txid)
        if not shard.is_dir():
            shard.mkdir(parents=True, exist_ok=True)
            fsync_dir(self.directory)
        with lock_file(shard / f"{gateway_txid}.lock"):
            yield

    def history_with(
        self, event: events_pb2.StatusEvent
    ) -> tuple[list[events_pb2.StatusEvent], list[events_pb2.StatusEvent]]:
        """The transaction's history with ``event`` added, and the events that added (none: seen before).

        "accepted" brings its "sent" along when that is not recorded yet. Nothing is saved: call
        while holding ``locked(event.gateway_txid)``, and ``save`` the history once the files of
        the added events are written.
        """
        if event.code not in _STAGE:
            raise PoisonMessage(f"status event with unknown code {event.code}")
        found = self.find(event.gateway_txid)
        events = [] if found is None else read_history(found)
        if any(e.event_id == event.event_id for e in events):
            return events, []
        added = [event]
        if event.code == events_pb2.STATUS_CODE_ACCEPTED and not any(
            e.code == events_pb2.STATUS_CODE_SENT for e in events
        ):
            added.insert(0, sent_before(event))
        events.extend(added)
        events.sort(key=_order)
        return events, added

    def history(self, gateway_txid: str) -> list[events_pb2.StatusEvent]:
        found = self.find(gateway_txid)
        return [] if found is None else read_history(found)

    def save(self, gateway_txid: str, events: list[events_pb2.StatusEvent]) -> None:
        """Write the history into its shard; one written before sharding moves there now."""
        found = self.find(gateway_txid)
        path = self.path(gateway_txid)
        atomic_write(path, events_pb2.StatusHistory(events=events).SerializeToString())
        if found is not None and found != path:
            found.unlink(missing_ok=True)
