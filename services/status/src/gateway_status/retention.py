"""Removes status and outbound files older than the retention from every tenant's /out.

Only regular files directly in <tenant>/out/ are candidates; folders and symlinks are left
alone, and nothing outside /out (spool, ledger, txid reservations) is touched here.
"""

from __future__ import annotations

import asyncio
import os
import time

from gateway_common import metrics
from gateway_common.logging import get_logger
from gateway_common.storage import StorageLayout

log = get_logger(__name__)


def sweep(layout: StorageLayout, max_age: float, now: float | None = None) -> int:
    """Delete files in every /out last modified more than ``max_age`` seconds ago; return how many."""
    cutoff = (time.time() if now is None else now) - max_age
    removed = 0
    for out in layout.tenants_dir.glob("*/*/out"):
        if out.is_symlink() or not out.is_dir():
            continue
        with os.scandir(out) as entries:
            for entry in entries:
                if not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                        continue
                    os.unlink(entry.path)
                except FileNotFoundError:
                    continue  # a client deleted it meanwhile
                removed += 1
                log.info("expired out file removed", path=str(layout.relative(out / entry.name)))
    return removed


async def run_retention(layout: StorageLayout, days: float, interval: float) -> None:
    while True:
        try:
            removed = await asyncio.to_thread(sweep, layout, days * 86400)
        except OSError as exc:
            log.error("retention sweep failed; retrying at the next interval", error=repr(exc))
        else:
            metrics.RETENTION_REMOVED.inc(removed)
        await asyncio.sleep(interval)
