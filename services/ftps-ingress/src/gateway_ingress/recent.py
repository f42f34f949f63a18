"""Uploads that already left their folder, so SIZE and MDTM keep answering for a while.

Clients of the original gateway often check the size of what they uploaded; the file moves
on at once, and the gateway's known annoyance was the error they got. Kept in memory for the
connection that uploaded, and in a small record on the shared storage for a client that
reconnects to another ingress replica (``recent/<shard>/<key>``, written off the IO loop,
without fsync: losing one in a crash only costs that answer). The status service's sweep
removes old records.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gateway_common.logging import get_logger
from gateway_common.storage import TMP_PREFIX, in_shard

log = get_logger(__name__)


class RecentUploads:
    def __init__(self, grace: float, directory: Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self.grace = grace
        self.directory = directory
        self.clock = clock
        # In order of expiry (every entry is kept for the same grace): pruning looks at expired ones only.
        self._entries: OrderedDict[str, tuple[int, float, float]] = OrderedDict()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recent")

    def add(self, path: str, size: int, mtime: float) -> None:
        if self.grace > 0:
            self._prune()
            entry = (size, mtime, self.clock() + self.grace)
            self._entries[path] = entry
            self._entries.move_to_end(path)
            if self.directory is not None:
                self._writer.submit(self._store, path, entry)

    def get(self, path: str) -> tuple[int, float] | None:
        """(size, mtime) of a recent upload at ``path`` (a filesystem path inside a tenant root)."""
        self._prune()
        entry = self._entries.get(path)
        if entry is None or entry[2] <= self.clock():  # a clock set back can leave one behind
            entry = self._load(path)
        return None if entry is None else (entry[0], entry[1])

    def _prune(self) -> None:
        now = self.clock()
        while self._entries:
            path, (_, _, expires) = next(iter(self._entries.items()))
            if expires > now:
                return
            del self._entries[path]

    def _record(self, path: str) -> Path:
        assert self.directory is not None
        key = hashlib.sha256(path.encode()).hexdigest()
        return in_shard(self.directory, key, key)

    def _store(self, path: str, entry: tuple[int, float, float]) -> None:
        record = self._record(path)
        tmp = record.with_name(f"{TMP_PREFIX}{record.name}.{secrets.token_hex(4)}")
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"path": path, "size": entry[0], "mtime": entry[1], "expires": entry[2]}))
            os.replace(tmp, record)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            log.warning("cannot record a recent upload for other replicas", error=repr(exc))

    def _load(self, path: str) -> tuple[int, float, float] | None:
        if self.directory is None or self.grace <= 0:
            return None
        try:
            data = json.loads(self._record(path).read_text())
        except (OSError, ValueError):
            return None
        if data.get("path") != path or data["expires"] <= self.clock():
            return None
        return int(data["size"]), float(data["mtime"]), float(data["expires"])
