"""Where things live on the shared storage, and how they are written durably.

<data_dir>/spool/<shard>/<gateway_txid>/payload      received payloads (kept for replay, then swept)
<data_dir>/spool/<shard>/<gateway_txid>/responses/   response files adapters got from backends
<data_dir>/spool/<shard>/<gateway_txid>/upload.pb    the upload event, moved here from the outbox once published
<data_dir>/spool/<shard>/<gateway_txid>/deliveries/  each delivery attempt and its outcome (<attempt>.json)
<data_dir>/outbox/<event_id>.pb                      upload events not yet confirmed by the broker
<data_dir>/txids/<tenant>/<service>/<shard>/<id>     reservations making FTPTransactionIDs unique (hold gateway_txid)
<data_dir>/ledger/<shard>/<gateway_txid>.pb          the status history of each transaction
<data_dir>/recent/<shard>/<key>                      SIZE/MDTM answers for uploads that just left
<data_dir>/tenants/<tenant>/out/                     what clients download: status and response files
<data_dir>/audit/out-deletes-<YYYY-MM-DD>.jsonl      append-only record of files clients deleted from /out
<data_dir>/outbound/<backend>/<shard>/<key>.json     what a backend pushed under each Idempotency-Key
<data_dir>/responses/<backend>/<shard>/<key>.json    what a backend answered under each Idempotency-Key

<shard> is the first SHARD_DIGITS hex digits of the gateway id (random) or of the SHA-256 of
a client-chosen name, so no folder grows with the number of transactions: 4096 shards hold a
few hundred entries each per million items kept. Data written before sharding sits one level
up (``spool/<gateway_txid>``, ``ledger/<gateway_txid>.pb``, ``txids/<tenant>/<service>/<id>``,
``outbound/<backend>/<key>.json``, ``audit/out-deletes.jsonl``); it is read where it is and swept like the rest.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import stat
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway_common.proto.gateway.v1 import events_pb2

from gateway_common.events import GATEWAY_TXID
from gateway_common.groupsync import sync_directory

_TENANT = re.compile(r"(personal|company)/[A-Za-z0-9][A-Za-z0-9-]{0,63}")
TMP_PREFIX = ".tmp-"
SHARD_DIGITS = 3


def shard_of(key: str) -> str:
    """The shard folder of a gateway id (its own random digits) or of any other name (its hash)."""
    digits = key if GATEWAY_TXID.fullmatch(key) else hashlib.sha256(key.encode()).hexdigest()
    return digits[:SHARD_DIGITS]


def plainly_below(root: str, path: str) -> bool:
    """Whether ``path`` resolves below ``root``'s real path, as far as that is quick to prove.

    True when ``path`` is written below ``root``, holds no '..' and no symlink among its existing
    parts below ``root``: then resolving it (realpath: one lstat() per part of the whole path,
    in Python, ~40 us for a deep one) cannot lead elsewhere, and one lstat() per existing part
    below ``root`` showed it. False means "resolve it to know", not "outside".
    """
    root = root.rstrip("/")
    if not path.startswith(f"{root}/"):
        return False
    rest = path[len(root) + 1 :].split("/")
    if ".." in rest:
        return False
    walked = root
    for part in rest:
        if part in ("", "."):
            continue
        walked = f"{walked}/{part}"
        try:
            mode = os.lstat(walked).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return True  # nothing exists below here, so nothing below leads elsewhere
        except OSError:
            return False  # a name too long, a folder it may not read: resolving answers
        if stat.S_ISLNK(mode):
            return False
    return True


def in_shard(directory: Path, key: str, name: str) -> Path:
    return directory / shard_of(key) / name


def find_sharded(directory: Path, key: str, name: str) -> Path | None:
    """``name`` in its shard of ``directory`` or, written before sharding, directly in it."""
    for path in (in_shard(directory, key, name), directory / name):
        if path.exists():
            return path
    return None


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


@contextlib.contextmanager
def lock_file(path: Path, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created if missing); yield False if busy and not ``blocking``.

    The sweep removes lock files of expired transactions while holding them, so a lock taken on
    a file that was removed meanwhile is retried on the file now at ``path``.
    """
    while True:
        with path.open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                current = os.stat(path).st_ino
            except FileNotFoundError:
                current = -1
            if current == os.fstat(lock.fileno()).st_ino:
                yield True
                return


class StorageLayout:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.spool_dir = self.data_dir / "spool"
        self.outbox_dir = self.data_dir / "outbox"
        self.txid_dir = self.data_dir / "txids"
        self.ledger_dir = self.data_dir / "ledger"
        self.tenants_dir = self.data_dir / "tenants"
        self.recent_dir = self.data_dir / "recent"
        self.audit_dir = self.data_dir / "audit"

    @property
    def audit_file(self) -> Path:
        """Today's delete audit log: one file per UTC day, so old days can be expired whole."""
        return self.audit_dir / f"out-deletes-{time.strftime('%Y-%m-%d', time.gmtime())}.jsonl"

    def spool_txn(self, gateway_txid: str) -> Path:
        """Folder of a new transaction's payload and responses."""
        return in_shard(self.spool_dir, gateway_txid, gateway_txid)

    def find_spool_txn(self, gateway_txid: str) -> Path:
        """Folder of a transaction in the spool, sharded or flat; the sharded one if neither exists."""
        return find_sharded(self.spool_dir, gateway_txid, gateway_txid) or self.spool_txn(gateway_txid)

    def find_ledger(self, gateway_txid: str) -> Path | None:
        return find_sharded(self.ledger_dir, gateway_txid, f"{gateway_txid}.pb")

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
        if "\x00" in relative:  # resolve() refused it with ValueError too; lstat would, not every path
            raise ValueError(f"spool path holds a NUL byte: {relative!r}")
        joined = os.path.join(self.data_dir, relative)  # an absolute one replaces data_dir, as with Path
        if plainly_below(str(self.spool_dir), joined):
            return Path(os.path.normpath(joined))  # what resolve() gives: data_dir is resolved
        path = Path(joined).resolve()
        if not path.is_relative_to(self.spool_dir):
            raise ValueError(f"spool path escapes the spool: {relative!r}")
        return path

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.data_dir))

    # Readers find files through these helpers only, so that a change of layout (sharding)
    # changes them here and nowhere else.
    def ledger_file(self, gateway_txid: str) -> Path:
        """Where a transaction's status history is written (its shard)."""
        return in_shard(self.ledger_dir, gateway_txid, f"{gateway_txid}.pb")

    def audit_files(self) -> list[Path]:
        """Every /out delete audit log, oldest first."""
        return sorted(self.audit_file.parent.glob("out-deletes*.jsonl"))

    def transaction_spool(self, upload: events_pb2.UploadReceived) -> Path:
        """The spool folder of an upload: its payload, upload record, delivery attempts, responses."""
        return self.spool_path(upload.spool_path).parent

    def upload_record(self, upload: events_pb2.UploadReceived) -> Path:
        return self.transaction_spool(upload) / "upload.pb"

    def deliveries_dir(self, upload: events_pb2.UploadReceived) -> Path:
        return self.transaction_spool(upload) / "deliveries"

    def reservation(self, tenant: str, service: str, ftp_txid: str) -> Path:
        """Where a new reservation of ``ftp_txid`` is created (its shard)."""
        return in_shard(self.txid_dir / tenant / service, ftp_txid, ftp_txid)

    def flat_reservation(self, tenant: str, service: str, ftp_txid: str) -> Path:
        """Where a reservation written before sharding lies: beside the shard folders, so only a
        file there is one (an id of three hex digits names a shard folder too)."""
        return self.txid_dir / tenant / service / ftp_txid

    def find_reservation(self, tenant: str, service: str, ftp_txid: str) -> Path | None:
        """The reservation of ``ftp_txid``, sharded or written before sharding, if any."""
        for path in (self.reservation(tenant, service, ftp_txid), self.flat_reservation(tenant, service, ftp_txid)):
            if path.is_file():
                return path
        return None


def out_usage(out: Path) -> int:
    """Bytes of the visible files in a tenant's /out (one flat directory, so one scandir).

    Temporary files of writers (``.tmp-*``, a crashed one's included) never count.
    """
    try:
        with os.scandir(out) as entries:
            return sum(
                entry.stat(follow_symlinks=False).st_size
                for entry in entries
                if not entry.name.startswith(TMP_PREFIX) and entry.is_file(follow_symlinks=False)
            )
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
