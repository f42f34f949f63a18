"""Receiving an upload into the spool: hashed while it arrives, made durable before the 226.

``SpoolWriter`` is the file object pyftpdlib's data channel writes into. Hashing happens per
received chunk in C (hashlib), so there is no second pass over the file; fsync and close are
left to ``commit``, which runs off the FTP IO loop.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from pathlib import Path

from gateway_common.storage import fsync_dir

_BUFFER = 1 << 20


class FileTooLarge(OSError):
    def __init__(self, limit: int) -> None:
        super().__init__(errno.EFBIG, f"File exceeds this service's size limit of {limit} bytes")
        self.limit = limit


class SpoolWriter:
    def __init__(self, path: Path, max_size: int | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        self._file = open(fd, "wb", buffering=_BUFFER)  # noqa: SIM115 - closed by commit/discard
        self._hash = hashlib.sha256()
        self.path = path
        self.name = str(path)  # pyftpdlib logs file_obj.name
        self.size = 0
        self.max_size = max_size
        # pyftpdlib closes its file object on the IO loop; the real close happens in commit().
        self.closed = False

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.max_size is not None and self.size > self.max_size:
            raise FileTooLarge(self.max_size)
        self._hash.update(data)
        return self._file.write(data)

    def close(self) -> None:
        self.closed = True

    def commit(self) -> str:
        """Flush, fsync file and directory; return the SHA-256. Blocking: call off the IO loop."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        fsync_dir(self.path.parent)
        return self._hash.hexdigest()

    def discard(self) -> None:
        """Remove what was received so far. Blocking: call off the IO loop."""
        if not self._file.closed:
            # The disk may be full and closing flushes: the file is removed anyway.
            with contextlib.suppress(OSError):
                self._file.close()
        self.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.path.parent.rmdir()
