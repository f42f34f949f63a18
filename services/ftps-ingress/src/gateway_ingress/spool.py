"""Receiving an upload into the spool: hashed while it arrives, made durable before the 226.

``SpoolWriter`` is the file object pyftpdlib's data channel writes into. The FTP IO loop only
queues each received chunk; a writer thread per upload hashes it (hashlib, in C, without the
GIL) and writes it, so decrypting and storing run on two cores and there is no second pass over
the file. fsync and close are left to ``commit``, which runs off the FTP IO loop.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import threading
from pathlib import Path

from gateway_common.storage import fsync_dir

# How far the writer thread may fall behind the network before the IO loop waits for it,
# as a slow disk would make it wait in a plain write().
MAX_BACKLOG = 32 << 20


class FileTooLarge(OSError):
    def __init__(self, limit: int) -> None:
        super().__init__(errno.EFBIG, f"File exceeds this service's size limit of {limit} bytes")
        self.limit = limit


class SpoolWriter:
    def __init__(self, path: Path, max_size: int | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        # Default buffering on purpose: TLS records arrive as ~16 KiB chunks that pass straight
        # through to write(2); a large buffer measured 2-5x slower here (see `make bench`).
        self._file = open(fd, "wb")  # noqa: SIM115 - closed by commit/discard
        self._hash = hashlib.sha256()
        self.path = path
        self.name = str(path)  # pyftpdlib logs file_obj.name
        self.size = 0
        self.max_size = max_size
        # pyftpdlib closes its file object on the IO loop; the real close happens in commit().
        self.closed = False
        self._chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._written = 0  # advanced by the writer thread only
        self._caught_up = threading.Event()
        self._error: OSError | None = None
        self._writer = threading.Thread(target=self._drain, name=f"spool-{path.parent.name}", daemon=True)
        self._writer.start()

    def write(self, data: bytes) -> int:
        if self._error is not None:
            raise self._error
        self.size += len(data)
        if self.max_size is not None and self.size > self.max_size:
            raise FileTooLarge(self.max_size)
        self._chunks.put(data)
        while self.size - self._written > MAX_BACKLOG and self._error is None:
            self._caught_up.clear()
            self._caught_up.wait(0.05)
        return len(data)

    def _drain(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if self._error is None:
                try:
                    self._hash.update(chunk)
                    self._file.write(chunk)
                except OSError as exc:
                    self._error = exc
            self._written += len(chunk)
            self._caught_up.set()

    def _stop_writer(self) -> None:
        self._chunks.put(None)
        self._writer.join()

    def close(self) -> None:
        self.closed = True

    def commit(self) -> str:
        """Finish writing, fsync file and directory; return the SHA-256. Blocking: call off the IO loop."""
        self._stop_writer()
        if self._error is not None:
            raise self._error
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        # The transaction's folder is new too: its entry in the spool must be durable as well.
        fsync_dir(self.path.parent)
        fsync_dir(self.path.parent.parent)
        return self._hash.hexdigest()

    def discard(self) -> None:
        """Remove what was received so far. Blocking: call off the IO loop."""
        self._stop_writer()
        if not self._file.closed:
            # The disk may be full and closing flushes: the file is removed anyway.
            with contextlib.suppress(OSError):
                self._file.close()
        self.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.path.parent.rmdir()
