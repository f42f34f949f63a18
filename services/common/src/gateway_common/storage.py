"""Where things live on the shared storage, and how they are written durably.

<data_dir>/spool/<gateway_txid>/<file>    received payloads (kept for replay until retention)
<data_dir>/spool/<gateway_txid>/responses/ response files adapters got from backends
<data_dir>/spool/<gateway_txid>/upload.pb  the upload event, moved here from the outbox once published
<data_dir>/spool/<gateway_txid>/deliveries/<attempt>.json  each delivery attempt and its outcome
<data_dir>/outbox/<event_id>.pb           upload events not yet confirmed by the broker
<data_dir>/txids/<tenant>/<service>/<id>  reservations that make FTPTransactionIDs unique; hold the gateway_txid
<data_dir>/ledger/<gateway_txid>.pb       the status history of each transaction
<data_dir>/tenants/<tenant>/out/          what clients download: status and response files
<data_dir>/audit/out-deletes.jsonl        append-only record of files clients deleted from /out
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway_common.proto.gateway.v1 import events_pb2

_TENANT = re.compile(r"(personal|company)/[A-Za-z0-9][A-Za-z0-9-]{0,63}")
TMP_PREFIX = ".tmp-"


def is_safe_file_name(name: str, reserved: tuple[str, ...] = ()) -> bool:
    """Whether ``name`` can be a file directly in an /out folder: one visible path component."""
    return (
        bool(name)
        and len(name) <= 255
        and "/" not in name
        and "\x00" not in name
        and not name.startswith((".", *reserved))
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

    # Readers find files through these helpers only, so that a change of layout (sharding)
    # changes them here and nowhere else.
    def spool_txn(self, gateway_txid: str) -> Path:
        """Folder of a new transaction's payload and responses."""
        return self.spool_dir / gateway_txid

    def find_spool_txn(self, gateway_txid: str) -> Path:
        """Folder of a transaction in the spool (whether it still exists or not)."""
        return self.spool_txn(gateway_txid)

    def ledger_file(self, gateway_txid: str) -> Path:
        return self.ledger_dir / f"{gateway_txid}.pb"

    def find_ledger(self, gateway_txid: str) -> Path | None:
        path = self.ledger_file(gateway_txid)
        return path if path.exists() else None

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
        return self.txid_dir / tenant / service / ftp_txid

    def find_reservation(self, tenant: str, service: str, ftp_txid: str) -> Path | None:
        path = self.reservation(tenant, service, ftp_txid)
        return path if path.exists() else None


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
