"""Bytes each tenant keeps in /out, for the quota check, measured off the FTP IO loop.

Listing a company's /out with thousands of files on every upload slowed every session of the
ingress (the IO loop is shared). Usage is measured on a worker thread instead and reused for
``max_age`` seconds; a reading older than that is still used while a fresh one is taken in the
background. /out is shared by replicas and written by the status service, so nothing local can
keep an exact running total: the quota is enforced with a reading at most ``max_age`` old. A
tenant not measured yet (first upload after start, or after a DELE in /out on this replica)
gets its STOR answered once the measurement is in. Hidden temporary files (``.tmp-*``, left by
a writer that died) never count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from gateway_common.logging import get_logger
from gateway_common.storage import out_usage

log = get_logger(__name__)
# Readings kept before stale ones are dropped.
KEEP = 4096


class OutUsage:
    def __init__(
        self,
        max_age: float,
        loop: asyncio.AbstractEventLoop,
        call_soon: Callable[..., None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age = max_age
        self._loop = loop  # where the measuring threads are started from
        self._call_soon = call_soon  # back onto the FTP IO loop
        self._clock = clock
        self._known: dict[Path, tuple[int, float]] = {}
        self._waiting: dict[Path, list[Callable[[], object]]] = {}
        # /out folders deleted from while a measurement of them was under way, and those
        # measured a second time for that (a second outdated reading is answered all the same).
        self._outdated: set[Path] = set()
        self._remeasured: set[Path] = set()

    def used(self, out_dir: Path) -> int | None:
        """The last reading for ``out_dir`` (refreshed in the background when old), or None."""
        known = self._known.get(out_dir)
        if known is None:
            return None
        if self._clock() - known[1] > self.max_age:
            self.measure(out_dir, lambda: None)
        return known[0]

    def forget(self, out_dir: Path) -> None:
        """/out changed here (a delete): the next check measures again."""
        self._known.pop(out_dir, None)
        if out_dir in self._waiting:  # that measurement may have counted the deleted file
            self._outdated.add(out_dir)

    def measure(self, out_dir: Path, then: Callable[[], object]) -> None:
        """Measure ``out_dir`` on a worker thread; call ``then`` on the IO loop once it is known."""
        waiting = self._waiting.get(out_dir)
        if waiting is not None:
            waiting.append(then)
            return
        self._waiting[out_dir] = [then]
        self._start(out_dir)

    def _start(self, out_dir: Path) -> None:
        future = asyncio.run_coroutine_threadsafe(asyncio.to_thread(out_usage, out_dir), self._loop)
        future.add_done_callback(lambda done: self._call_soon(self._measured, out_dir, done))

    def _measured(self, out_dir: Path, done: Future[int]) -> None:
        outdated = out_dir in self._outdated
        self._outdated.discard(out_dir)
        if outdated and out_dir not in self._remeasured:
            # Kept, a reading from before a delete would refuse uploads for up to max_age for
            # bytes that are gone: those waiting get one taken after it.
            self._remeasured.add(out_dir)
            self._start(out_dir)
            return
        # Once only: a client deleting all the time (RETR and DELE in a loop) would otherwise
        # keep those waiting here for good. A second outdated reading is answered, but kept as
        # expired, so the next check measures again.
        self._remeasured.discard(out_dir)
        error = done.exception()
        if len(self._known) > KEEP:
            # Tenants not seen for a while are measured afresh when they come back.
            cutoff = self._clock() - self.max_age
            self._known = {d: k for d, k in self._known.items() if k[1] >= cutoff}
        if error is None:
            self._known[out_dir] = (done.result(), self._clock() - (self.max_age + 1 if outdated else 0))
        else:
            # Unreadable /out: the upload goes ahead (the quota protects /out, not the spool);
            # the next check measures again.
            log.warning("cannot measure /out for the quota", out=str(out_dir), error=repr(error))
            self._known[out_dir] = (0, self._clock() - self.max_age - 1)
        for then in self._waiting.pop(out_dir, []):
            then()
