"""Where things live on the shared storage, and how they are written durably.

<data_dir>/spool/<gateway_txid>/<file>    received payloads (kept for replay until retention)
<data_dir>/spool/<gateway_txid>/responses/ response files adapters got from backends
<data_dir>/outbox/<event_id>.pb           upload events not yet confirmed by the broker
<data_dir>/txids/<tenant>/<service>/<id>  reservations that make FTPTransactionIDs unique
<data_dir>/ledger/<gateway_txid>.pb       the status history of each transaction
<data_dir>/tenants/<tenant>/out/          what clients download: status and response files
<data_dir>/audit/out-deletes.jsonl        append-only record of files clients deleted from /out
<data_dir>/outbound/<backend>/<key>.json  what a backend pushed under each Idempotency-Key
<data_dir>/responses/<backend>/<key>.json what a backend answered under each Idempotency-Key
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import unicodedata
from pathlib import Path

from gateway_common.groupsync import sync_directory

_TENANT = re.compile(r"(personal|company)/[A-Za-z0-9][A-Za-z0-9-]{0,63}")
TMP_PREFIX = ".tmp-"


# Longest file name in bytes (ext4, XFS, NFS); atomic_write's temporary name adds TMP_OVERHEAD.
NAME_MAX = 255
TMP_OVERHEAD = len(TMP_PREFIX) + 9  # ".tmp-" before, "." and 8 hex digits after


def is_safe_file_name(name: str, reserved: tuple[str, ...] = ()) -> bool:
    """Whether ``name`` can be a file directly in an /out folder: one visible path component.

    Control characters (a CR/LF would forge lines in every client's LIST, and FTP cannot name
    such a file to delete it) and invisible format characters such as the bidi override U+202E
    are refused; ``reserved`` prefixes are compared case-insensitively.
    """
    return (
        bool(name)
        and len(name.encode(errors="surrogatepass")) <= NAME_MAX
        and "/" not in name
        and not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in name)
        and not name.casefold().startswith((".", *(prefix.casefold() for prefix in reserved)))
    )


class StorageLayout:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.spool_dir = self.data_dir / "spool"
        self.outbox_dir = self.data_dir / "outbox"
        self.txid_dir = self.data_dir / "txids"
        self.ledger_dir = self.data_dir / "ledger"
        self.tenants_dir = self.data_dir / "tenants"
        self.audit_file = self.data_dir / "audit" / "out-deletes.jsonl"

    def ensure(self) -> None:
        for path in (self.spool_dir, self.outbox_dir, self.txid_dir, self.ledger_dir, self.tenants_dir):
            path.mkdir(parents=True, exist_ok=True)

    def tenant_root(self, tenant: str) -> Path:
        if not _TENANT.fullmatch(tenant):
            raise ValueError(f"not a tenant key: {tenant!r}")
        return self.tenants_dir / tenant

    def out_dir(self, tenant: str) -> Path:
        return self.tenant_root(tenant) / "out"

    def spool_path(self, relative: str) -> Path:
        path = (self.data_dir / relative).resolve()
        if not path.is_relative_to(self.spool_dir):
            raise ValueError(f"spool path escapes the spool: {relative!r}")
        return path

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.data_dir))


def out_usage(out: Path) -> int:
    """Bytes of the files in a tenant's /out: one flat directory, so one scandir."""
    try:
        with os.scandir(out) as entries:
            return sum(entry.stat(follow_symlinks=False).st_size for entry in entries if entry.is_file())
    except FileNotFoundError:
        return 0


def fsync_dir(path: Path) -> None:
    """Make the renames and new files in ``path`` durable (sharing one fsync with concurrent callers)."""
    sync_directory(path)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` so that readers see the old file or the whole new one, durably."""
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def atomic_copy(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` with the guarantees of :func:`atomic_write`, streaming."""
    tmp = target.with_name(f"{TMP_PREFIX}{target.name}.{secrets.token_hex(4)}")
    try:
        with source.open("rb") as reader, tmp.open("xb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
            writer.flush()
            os.fsync(writer.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
    fsync_dir(target.parent)
