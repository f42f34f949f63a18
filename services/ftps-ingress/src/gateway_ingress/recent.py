"""Uploads that already left their folder, so SIZE and MDTM keep answering for a while.

Clients of the original gateway often check the size of what they uploaded; the file moves
on at once, and the gateway's known annoyance was the error they got. Kept in memory per
ingress process: a client asks on the connection it uploaded on.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RecentUploads:
    def __init__(self, grace: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace = grace
        self.clock = clock
        self._entries: dict[str, tuple[int, float, float]] = {}

    def add(self, path: str, size: int, mtime: float) -> None:
        if self.grace > 0:
            self._prune()
            self._entries[path] = (size, mtime, self.clock() + self.grace)

    def get(self, path: str) -> tuple[int, float] | None:
        """(size, mtime) of a recent upload at ``path`` (a filesystem path inside a tenant root)."""
        self._prune()
        entry = self._entries.get(path)
        return None if entry is None else (entry[0], entry[1])

    def _prune(self) -> None:
        now = self.clock()
        for path in [p for p, (_, _, expires) in self._entries.items() if expires <= now]:
            del self._entries[path]
