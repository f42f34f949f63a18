"""Search: a tenant's transactions in a time range, with their current status code.

Walks the tenant's own FTPTransactionID reservations (they hold the gateway_txid, and their
time is the upload's), so the cost grows with the tenant's transactions, not with everybody's.
Measured at 100,000 transactions in tests/bench/search.py; the README says why there is no index.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway_common.events import GATEWAY_TXID, XML_CODE
from gateway_common.storage import StorageLayout, is_safe_file_name

from gateway_status.ledger import current_status
from gateway_status.trace import NotFound, history_of


@dataclass(frozen=True)
class Found:
    """One transaction of a search: when the ingress reserved its id, and where it stands now."""

    received_at: datetime
    service: str
    ftp_txid: str
    gateway_txid: str
    current_code: int | None


@dataclass(frozen=True)
class Matches:
    total: int  # transactions in the range
    rows: list[Found]  # the first ``limit`` of them, oldest first

    def as_json(self) -> dict[str, Any]:
        rows = [{**vars(row), "received_at": row.received_at.isoformat()} for row in self.rows]
        return {"total": self.total, "transactions": rows}


def search(
    layout: StorageLayout,
    tenant: str,
    since: datetime,
    until: datetime,
    service: str | None = None,
    limit: int = 1000,
) -> Matches:
    """A tenant's transactions received in [since, until), oldest first, with their current code.

    Walks the tenant's own id reservations (one stat each; the reservation's mtime is the upload's
    start), so the cost grows with the tenant's transactions, not with everybody's. Only the
    first ``limit`` matches have their reservation and ledger read: at 100,000 transactions the
    walk takes a few hundred milliseconds, reading every match's ledger seconds (README, Search).
    """
    try:
        layout.tenant_root(tenant)  # validates the key: no path escapes through it
    except ValueError as exc:
        raise NotFound(str(exc)) from exc
    if service is not None and not is_safe_file_name(service):
        raise NotFound(f"not a service name: {service!r}")
    start, end = since.timestamp(), until.timestamp()
    tenant_dir = layout.txid_dir / tenant
    services = [service] if service else sorted(p.name for p in _dirs(tenant_dir))
    matches: list[tuple[float, str, os.DirEntry[str]]] = []
    for name in services:
        for entry in _entries(tenant_dir / name):
            try:
                mtime = entry.stat().st_mtime
            except FileNotFoundError:
                continue
            if start <= mtime < end:
                matches.append((mtime, name, entry))
    matches.sort(key=lambda m: (m[0], m[1], m[2].name))
    rows = []
    for mtime, name, entry in matches[:limit]:
        try:
            gateway_txid = Path(entry.path).read_text().strip()
        except OSError:
            gateway_txid = ""
        code = None
        if GATEWAY_TXID.fullmatch(gateway_txid) and (history := history_of(layout, gateway_txid)):
            code = XML_CODE[current_status(history).code]
        rows.append(Found(datetime.fromtimestamp(mtime, UTC), name, entry.name, gateway_txid, code))
    return Matches(len(matches), rows)


def _dirs(path: Path) -> list[Path]:
    return [p for p in path.iterdir() if p.is_dir() and not p.is_symlink()] if path.is_dir() else []


def _entries(path: Path) -> list[os.DirEntry[str]]:
    """The reservation files of a service folder, also those one level down (hash-prefix shards)."""
    if not path.is_dir() or path.is_symlink():
        return []
    files = []
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                files.append(entry)
            elif entry.is_dir(follow_symlinks=False):
                with os.scandir(entry.path) as shard:
                    files += [e for e in shard if e.is_file(follow_symlinks=False)]
    return files
