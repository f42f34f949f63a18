"""Lifetimes of everything the gateway stores, enforced by one sweep that also measures usage.

What goes, and when (``Lifetimes``, from the status service's settings):

* /out: status, response and outbound files older than the /out retention;
* spool: a payload (with its responses) once its transaction has a final status (accepted or
  error) older than the replay window. A payload without a final status (being delivered,
  retried, parked) is kept whatever its age;
* ledger: a history not updated for the ledger lifetime whose payload is gone;
* txids: reservations older than the uniqueness window;
* outbound, responses: the backends' Idempotency-Key records older than the idempotency window;
* audit: daily delete logs older than the audit lifetime (whole files, never truncated);
* recent: SIZE/MDTM answers for other ingress replicas, and every ``.tmp-*`` file or folder
  a crashed writer (or sweep) left, after the temp-file lifetime.

Safe in any number of replicas at once: every removal is one atomic step that only one replica
can win (unlink, or rename of a folder to a ``.tmp-swept-*`` name before deleting it), so each
item is counted once; ledger and record files are removed under their transaction's lock, with
the conditions checked again. Data written before sharding (flat folders) is swept too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gateway_common import metrics
from gateway_common.events import GATEWAY_TXID
from gateway_common.logging import get_logger
from gateway_common.storage import SHARD_DIGITS, TMP_PREFIX, StorageLayout, find_sharded, lock_file

from gateway_status.idempotency import find_record, record_lock
from gateway_status.ledger import FINAL_CODES, read_history

log = get_logger(__name__)
DAY = 86400.0
AREAS = ("spool", "ledger", "outbox", "out", "txids", "outbound", "responses", "audit", "recent")
PAYLOAD = "payload"


@dataclass(frozen=True)
class Lifetimes:
    """Seconds each kind of data is kept (see the module's docstring)."""

    out: float = 30 * DAY
    payload: float = 7 * DAY
    ledger: float = 90 * DAY
    txid: float = 90 * DAY
    idempotency: float = 90 * DAY
    audit: float = 400 * DAY
    temp: float = 1 * DAY


@dataclass
class Usage:
    bytes: int = 0
    entries: int = 0
    oldest: float | None = None  # mtime

    def add(self, stat: os.stat_result) -> None:
        self.bytes += stat.st_size
        self.entries += 1
        if self.oldest is None or stat.st_mtime < self.oldest:
            self.oldest = stat.st_mtime


@dataclass
class SweepResult:
    removed: Counter[str] = field(default_factory=Counter)
    usage: dict[str, Usage] = field(default_factory=lambda: {area: Usage() for area in AREAS})


def _is_shard(name: str) -> bool:
    return len(name) == SHARD_DIGITS and all(c in "0123456789abcdef" for c in name)


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _stat(entry: os.DirEntry[str]) -> os.stat_result | None:
    try:
        return entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None  # removed meanwhile (a client, a writer or another replica's sweep)


def _unlink(path: str | Path) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False  # another replica won
    return True


SWEPT = f"{TMP_PREFIX}swept-"


def _remove_tree(path: Path) -> bool:
    """Remove a folder so that only one replica wins and a crash leaves only a ``.tmp-`` folder.

    The renamed folder keeps its old mtime, so its name carries when it was renamed: another
    replica must not take it for a crash leftover while the winner is still deleting it.
    """
    doomed = path.with_name(f"{SWEPT}{int(time.time())}-{path.name}-{secrets.token_hex(4)}")
    try:
        os.rename(path, doomed)
    except FileNotFoundError:
        return False
    shutil.rmtree(doomed, ignore_errors=True)
    return True


def _swept_at(name: str) -> float:
    """When a ``.tmp-swept-`` folder was renamed by a sweep (0 for any other temporary file)."""
    if not name.startswith(SWEPT):
        return 0.0
    stamp = name[len(SWEPT) :].split("-", 1)[0]
    return float(stamp) if stamp.isdigit() else 0.0


class Sweep:
    def __init__(self, layout: StorageLayout, lifetimes: Lifetimes, now: float | None = None) -> None:
        self.layout = layout
        self.lifetimes = lifetimes
        self.now = time.time() if now is None else now
        self.result = SweepResult()

    def older(self, stat: os.stat_result, lifetime: float) -> bool:
        return stat.st_mtime < self.now - lifetime

    def run(self) -> SweepResult:
        self.out()
        self.spool()
        self.ledger()
        self.flat("outbox", self.layout.outbox_dir, None)
        self.flat("txids", self.layout.txid_dir, self.lifetimes.txid)
        self.records("outbound")
        self.records("responses")
        self.flat("audit", self.layout.audit_dir, self.lifetimes.audit)
        self.flat("recent", self.layout.recent_dir, self.lifetimes.temp)
        return self.result

    def temp(self, entry: os.DirEntry[str], stat: os.stat_result) -> bool:
        """Remove a crashed writer's leftover once it is older than the temp lifetime; True if it was one."""
        if not entry.name.startswith(TMP_PREFIX):
            return False
        if self.older(stat, self.lifetimes.temp) and _swept_at(entry.name) < self.now - self.lifetimes.temp:
            path = Path(entry.path)
            removed = _remove_tree(path) if entry.is_dir(follow_symlinks=False) else _unlink(path)
            if removed:
                self.result.removed["temp"] += 1
                log.info("stale temporary file removed", path=self.layout.relative(path))
        return True

    def files(self, directory: Path) -> Iterator[tuple[os.DirEntry[str], os.stat_result]]:
        """Regular files below ``directory`` (no symlinks followed), temporary leftovers handled on the way."""
        for entry in _entries(directory):
            stat = _stat(entry)
            if stat is None or self.temp(entry, stat):
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from self.files(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                yield entry, stat

    def flat(self, area: str, directory: Path, lifetime: float | None) -> None:
        """Files that simply expire by age (or, with no lifetime, are only measured)."""
        usage = self.result.usage[area]
        for entry, stat in self.files(directory):
            if lifetime is not None and self.older(stat, lifetime):
                if _unlink(entry.path):
                    self.result.removed[area] += 1
                continue
            usage.add(stat)

    def out(self) -> None:
        usage = self.result.usage["out"]
        for out in self.layout.tenants_dir.glob("*/*/out"):
            if out.is_symlink() or not out.is_dir():
                continue
            for entry in _entries(out):
                stat = _stat(entry)
                if stat is None or self.temp(entry, stat) or not entry.is_file(follow_symlinks=False):
                    continue
                if self.older(stat, self.lifetimes.out):
                    if _unlink(entry.path):
                        self.result.removed["out"] += 1
                        metrics.RETENTION_REMOVED.inc()
                        log.info("expired out file removed", path=self.layout.relative(Path(entry.path)))
                    continue
                usage.add(stat)

    def spool(self) -> None:
        for entry in _entries(self.layout.spool_dir):
            stat = _stat(entry)
            if stat is None or self.temp(entry, stat) or not entry.is_dir(follow_symlinks=False):
                continue
            if _is_shard(entry.name):
                for txn in _entries(Path(entry.path)):
                    txn_stat = _stat(txn)
                    if txn_stat is not None and not self.temp(txn, txn_stat) and GATEWAY_TXID.fullmatch(txn.name):
                        self.transaction(Path(txn.path), txn_stat)
            elif GATEWAY_TXID.fullmatch(entry.name):  # written before sharding
                self.transaction(Path(entry.path), stat)

    def transaction(self, folder: Path, stat: os.stat_result) -> None:
        try:
            payload = os.stat(folder / PAYLOAD)
        except FileNotFoundError:
            # Never committed: an upload cut off by a crash (its .tmp-payload is inside).
            if self.older(stat, self.lifetimes.temp) and _remove_tree(folder):
                self.result.removed["temp"] += 1
                log.info("abandoned upload removed from the spool", gateway_txid=folder.name)
            return
        if self.older(payload, self.lifetimes.payload) and self.final_long_ago(folder.name):
            if _remove_tree(folder):
                self.result.removed["spool"] += 1
                log.info("payload removed after its replay window", gateway_txid=folder.name)
            return
        usage = self.result.usage["spool"]
        for _entry, file_stat in self.files(folder):
            usage.add(file_stat)

    def final_long_ago(self, gateway_txid: str) -> bool:
        """Whether the transaction's last final status is older than the replay window."""
        found = find_sharded(self.layout.ledger_dir, gateway_txid, f"{gateway_txid}.pb")
        if found is None:
            return False  # never routed, or parked before routing: kept
        try:
            history = read_history(found)
        except FileNotFoundError:
            return False
        finals = [e.occurred_at.ToNanoseconds() / 1e9 for e in history if e.code in FINAL_CODES]
        return bool(finals) and max(finals) < self.now - self.lifetimes.payload

    def ledger(self) -> None:
        ledger_dir = self.layout.ledger_dir
        usage = self.result.usage["ledger"]
        for entry, stat in self.files(ledger_dir):
            name = Path(entry.name)
            if not GATEWAY_TXID.fullmatch(name.stem):
                continue
            shard = ledger_dir / name.stem[:SHARD_DIGITS]
            if name.suffix == ".pb":
                if self.older(stat, self.lifetimes.ledger) and not self.payload_kept(name.stem):
                    if self.remove_locked(Path(entry.path), shard / f"{name.stem}.lock", self.lifetimes.ledger):
                        self.result.removed["ledger"] += 1
                    continue
                usage.add(stat)
            elif (
                name.suffix == ".lock"
                and self.older(stat, self.lifetimes.temp)
                and find_sharded(ledger_dir, name.stem, f"{name.stem}.pb") is None
            ):
                self.remove_locked(None, Path(entry.path), self.lifetimes.temp)

    def payload_kept(self, gateway_txid: str) -> bool:
        return find_sharded(self.layout.spool_dir, gateway_txid, gateway_txid) is not None

    def records(self, area: str) -> None:
        """Idempotency-Key records of a backend API (``<area>/<backend>/<shard>/<sha256>.json``).

        Removed under the lock their API takes (the sharded one, for records written before
        sharding too); a lock file goes once no record of its key is left.
        """
        usage, locks = self.result.usage[area], []
        for entry, stat in self.files(self.layout.data_dir / area):
            path = Path(entry.path)
            if path.suffix == ".json":
                if self.older(stat, self.lifetimes.idempotency):
                    if self.remove_locked(path, record_lock(path), self.lifetimes.idempotency):
                        self.result.removed[area] += 1
                    continue
                usage.add(stat)
            elif path.suffix == ".lock" and self.older(stat, self.lifetimes.temp):
                locks.append(path)
        for lock in locks:  # after the records, so that a lock whose record just went goes too
            if find_record(lock) is None:
                self.remove_locked(None, lock, self.lifetimes.temp)

    def remove_locked(self, target: Path | None, lock: Path, lifetime: float) -> bool:
        """Remove ``target`` and its ``lock`` while holding the lock, if still old; skip if busy."""
        lock.parent.mkdir(parents=True, exist_ok=True)  # a flat (older) history's shard may be new
        with contextlib.ExitStack() as stack:
            if not stack.enter_context(lock_file(lock, blocking=False)):
                return False  # a writer holds it: the item is in use
            removed = False
            if target is not None:
                try:
                    if not self.older(os.stat(target), lifetime):
                        return False  # updated meanwhile
                except FileNotFoundError:
                    return False  # another replica removed it
                removed = _unlink(target)
            _unlink(lock)
            return removed
        return False


def sweep(layout: StorageLayout, lifetimes: Lifetimes, now: float | None = None) -> SweepResult:
    return Sweep(layout, lifetimes, now).run()


def publish(result: SweepResult, now: float) -> None:
    for area, usage in result.usage.items():
        metrics.STORAGE_BYTES.labels(area=area).set(usage.bytes)
        metrics.STORAGE_ENTRIES.labels(area=area).set(usage.entries)
        metrics.STORAGE_OLDEST_AGE.labels(area=area).set(0 if usage.oldest is None else max(now - usage.oldest, 0))
    for area, count in result.removed.items():
        metrics.STORAGE_REMOVED.labels(area=area).inc(count)


def measure_volume(layout: StorageLayout) -> None:
    volume = os.statvfs(layout.data_dir)
    metrics.VOLUME_SIZE_BYTES.set(volume.f_blocks * volume.f_frsize)
    metrics.VOLUME_FREE_BYTES.set(volume.f_bavail * volume.f_frsize)
    metrics.VOLUME_INODES.set(volume.f_files)
    metrics.VOLUME_FREE_INODES.set(volume.f_favail)


async def run_sweeps(layout: StorageLayout, lifetimes: Lifetimes, interval: float, volume_interval: float) -> None:
    """Sweep every ``interval`` seconds; measure the volume's free space every ``volume_interval``."""
    next_sweep = 0.0
    while True:
        try:
            await asyncio.to_thread(measure_volume, layout)
        except OSError as exc:
            log.error("cannot measure the data volume", error=repr(exc))
        if time.monotonic() >= next_sweep:
            next_sweep = time.monotonic() + interval
            started = time.time()
            try:
                result = await asyncio.to_thread(sweep, layout, lifetimes, started)
            except OSError as exc:
                log.error("storage sweep failed; retrying at the next interval", error=repr(exc))
            else:
                publish(result, started)
                metrics.STORAGE_SWEEP_SECONDS.set(time.time() - started)
                metrics.STORAGE_SWEEP_LAST_SUCCESS.set(time.time())
                log.info("storage sweep done", removed=dict(result.removed), seconds=round(time.time() - started, 3))
        await asyncio.sleep(min(volume_interval, max(next_sweep - time.monotonic(), 0.05)))
