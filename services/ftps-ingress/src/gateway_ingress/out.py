"""The shared /out folder: deletes with an audit record, HASH/XSHA256 read off the FTP IO loop."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway_common import metrics
from gateway_common.logging import get_logger

from gateway_ingress import replies
from gateway_ingress.replies import os_reason
from gateway_ingress.session import Session
from gateway_ingress.tenant import OUT, Area

log = get_logger(__name__)
_HASH_CHUNK = 1 << 20


class OutCommands(Session):
    def ftp_DELE(self, path: str) -> str | None:
        assert self.view is not None
        area = self.view.area(path)
        result: str | None = super().ftp_DELE(path)
        if result is not None and area is Area.OUT_FILE:
            self.out_usage.forget(self.view.root / OUT)
            self._audit_delete(os.path.basename(path))
        return result

    def _audit_delete(self, name: str) -> None:
        """Deletes in /out remove the file for every certificate of the company: who did it is kept."""
        assert self.identity is not None
        identity = self.identity
        record = {
            # Milliseconds: gateway-trace orders a delete among the events of the same second.
            "at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "action": "delete",
            "tenant": identity.tenant,
            "file": f"out/{name}",
            "kind": identity.kind.value,
            "serial_number": identity.serial_number,
            "common_name": identity.common_name,
            "certificate_sha256": identity.fingerprint,
            "remote_ip": self.remote_ip,
        }
        metrics.OUT_DELETES.labels(kind=identity.kind.value).inc()
        log.info("out file deleted", **record)
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        self.off_loop(_append, self.layout.audit_file, line)

    # --- integrity of /out files (draft-bryan-ftpext-hash)
    def ftp_HASH(self, path: str) -> None:
        self._hash(
            "HASH",
            path,
            lambda digest, size: replies.HASH(last=max(size - 1, 0), digest=digest, name=os.path.basename(path)),
        )

    def ftp_XSHA256(self, path: str) -> None:
        self._hash("XSHA256", path, lambda digest, _size: replies.XSHA256(digest=digest))

    def _hash(self, command: str, path: str, reply: Any) -> None:
        assert self.view is not None
        if self.view.area(path) is not Area.OUT_FILE:
            self._refuse(command, replies.NOT_OUT_FILE, command=command)
            return
        # Reading a whole file must not stall every other session on the FTP IO loop. Commands
        # sent meanwhile wait (off_loop), so pipelined HASH commands read one file at a time.
        self.off_loop(_sha256_file, Path(path), then=functools.partial(self._reply_hash, reply))

    def _reply_hash(self, reply: Any, future: Future[tuple[str, int]]) -> None:
        error = future.exception()
        if error is not None:
            reason = os_reason(error, "read error")
            self.respond(replies.HASH_FAILED(reason=reason))
            return
        digest, size = future.result()
        self.respond(reply(digest, size))


def _append(path: Path, line: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        # The structured log line already carries the record; say loudly that the file lacks it.
        log.error("audit record not written", path=str(path), error=repr(exc), record=line.decode(errors="replace"))


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
