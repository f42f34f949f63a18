"""Receiving an upload into the spool: hashed while it arrives, made durable before the 226.

``SpoolWriter`` is the file object pyftpdlib's data channel writes into. The FTP IO loop only
collects the received chunks (TLS records of ~16 KiB) into batches; a writer thread per upload
hashes them (hashlib, in C, without the GIL) and writes each batch with one writev(2), so
decrypting and storing run on two cores, threads hand over once per batch rather than once per
record, and there is no second pass over the file. The writer thread starts with the first full
batch: an upload smaller than one batch is hashed and written by ``commit``, which needs no
thread of its own (starting one blocks the IO loop until the new thread runs). The writer
thread keeps at most two windows of the upload in the page cache (writebehind.py). fsync and
close are left to ``commit``, which runs off the FTP IO loop.

The payload is received under a hidden temporary name and renamed to its own name by
``commit``: a payload left by an ingress killed mid-upload is then a ``.tmp-*`` file that the
status service's sweep removes after a day, never mistaken for a stored upload.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import threading
from pathlib import Path

from gateway_common.storage import TMP_PREFIX, fsync_dir

from gateway_ingress.writebehind import WriteBehind

# How far the writer thread may fall behind the network before the IO loop waits for it,
# as a slow disk would make it wait in a plain write().
MAX_BACKLOG = 8 << 20
# A batch goes to the writer thread at this many bytes or chunks (writev takes at most IOV_MAX).
BATCH = 256 << 10
BATCH_CHUNKS = min(512, os.sysconf("SC_IOV_MAX"))


class FileTooLarge(OSError):
    def __init__(self, limit: int) -> None:
        super().__init__(errno.EFBIG, f"File exceeds this service's size limit of {limit} bytes")
        self.limit = limit


class SpoolWriter:
    def __init__(self, path: Path, max_size: int | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            raise FileExistsError(errno.EEXIST, "already in the spool", str(path))
        self._partial = path.with_name(f"{TMP_PREFIX}{path.name}")
        fd = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        self._fd = fd
        self._hash = hashlib.sha256()
        self.path = path
        self.name = str(path)  # pyftpdlib logs file_obj.name
        self.size = 0
        self.max_size = max_size
        # pyftpdlib closes its file object on the IO loop; the real close happens in commit().
        self.closed = False
        self._batch: list[bytes] = []
        self._batch_size = 0
        self._batches: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self._written = 0  # advanced by the writer thread only
        self._write_behind = WriteBehind(fd)
        self._caught_up = threading.Event()
        self._error: OSError | None = None
        self._writer: threading.Thread | None = None

    def write(self, data: bytes) -> int:
        if self._error is not None:
            raise self._error
        self.size += len(data)
        if self.max_size is not None and self.size > self.max_size:
            raise FileTooLarge(self.max_size)
        self._batch.append(data)
        self._batch_size += len(data)
        if self._batch_size >= BATCH or len(self._batch) >= BATCH_CHUNKS:
            self._flush_batch()
        while self.size - self._written > MAX_BACKLOG and self._error is None and self._writer_alive():
            self._caught_up.clear()
            self._caught_up.wait(0.05)
        return len(data)

    def _writer_alive(self) -> bool:
        return self._writer is not None and self._writer.is_alive()

    def _flush_batch(self) -> None:
        if self._batch:
            if self._writer is None:
                self._writer = threading.Thread(target=self._drain, name=f"spool-{self.path.parent.name}", daemon=True)
                self._writer.start()
            self._batches.put(self._batch)
            self._batch, self._batch_size = [], 0

    def _drain(self) -> None:
        while (batch := self._batches.get()) is not None:
            self._store(batch)
            self._caught_up.set()

    def _store(self, batch: list[bytes]) -> None:
        if self._error is None:
            try:
                for chunk in batch:
                    self._hash.update(chunk)
                _write_all(self._fd, batch)
                self._written += sum(map(len, batch))
                self._write_behind.written(self._written)
            except Exception as exc:
                # Whatever went wrong, the upload fails: the IO loop must not wait for a writer
                # that stopped, and commit() must not fsync a short file.
                self._error = exc if isinstance(exc, OSError) else OSError(errno.EIO, f"spool writer failed: {exc!r}")

    def _stop_writer(self, store: bool = True) -> None:
        if self._writer is None:
            # Less than a batch arrived: store it here (off the IO loop), or drop it when discarding.
            if store:
                self._store(self._batch)
            self._batch, self._batch_size = [], 0
            return
        self._flush_batch()
        self._batches.put(None)
        self._writer.join()

    def close(self) -> None:
        self.closed = True

    def commit(self) -> str:
        """Finish writing, fsync file and directory; return the SHA-256. Blocking: call off the IO loop."""
        self._stop_writer()
        if self._error is None and self._written != self.size:
            self._error = OSError(errno.EIO, f"spool writer stored {self._written} of {self.size} bytes")
        if self._error is not None:
            raise self._error
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = -1
        os.link(self._partial, self.path)  # never over an existing payload (EEXIST)
        os.unlink(self._partial)
        # The transaction's folder is new too, and maybe its shard: their entries must be durable as well.
        fsync_dir(self.path.parent)
        fsync_dir(self.path.parent.parent)
        fsync_dir(self.path.parent.parent.parent)
        return self._hash.hexdigest()

    def discard(self) -> None:
        """Remove what was received so far. Blocking: call off the IO loop."""
        self._stop_writer(store=False)
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        self._partial.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.path.parent.rmdir()


def _write_all(fd: int, chunks: list[bytes]) -> None:
    written = os.writev(fd, chunks)
    total = sum(map(len, chunks))
    if written < total:  # a short write (rare on regular files): finish the rest plainly
        rest = memoryview(b"".join(chunks))[written:]
        while rest:
            rest = rest[os.write(fd, rest) :]
