"""Upload events recorded durably before the 226 reply, until the broker has confirmed them.

One file per event on shared storage; a relay republishes whatever is left (after a broker
outage or a crash). Publishing an event twice is harmless: consumers deduplicate on event id.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.storage import TMP_PREFIX, StorageLayout, atomic_write


class Outbox:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, event_id: str) -> Path:
        return self.directory / f"{event_id}.pb"

    def put(self, event: events_pb2.UploadReceived) -> None:
        atomic_write(self._path(event.event_id), event.SerializeToString())

    def retire(self, event: events_pb2.UploadReceived, layout: StorageLayout) -> None:
        """The broker has the event: move it beside its payload as the transaction's upload record.

        A rename, not a copy: gateway-trace reads who sent the file, from where and to which
        replica long after the broker has forgotten it, at no extra write on the upload path.
        """
        path = self._path(event.event_id)
        try:
            os.replace(path, layout.upload_record(event))
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # no spool folder to keep it in: the record is only lost

    def pending(self) -> list[tuple[float, Path]]:
        """(mtime, path) of the waiting events, oldest first."""
        entries = []
        for path in self.directory.glob("*.pb"):
            if path.name.startswith(TMP_PREFIX):
                continue
            try:
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue  # published and removed meanwhile
            entries.append((mtime, path))
        return sorted(entries)

    @staticmethod
    def load(path: Path) -> events_pb2.UploadReceived:
        event = events_pb2.UploadReceived()
        event.ParseFromString(path.read_bytes())
        return event
