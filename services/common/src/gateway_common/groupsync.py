"""Group commit of directory fsyncs: threads that need the same directory durable share one fsync.

A rename or a new file is durable once an fsync of its directory that *started after* it has
finished. When several threads of a process (the status service's writers, the ingress's
concurrent uploads) each rename into the same directory, one fsync started after all their
renames serves them all: a caller that finds an fsync already running waits for it to end and
then joins the next one, which it starts itself or which another waiting thread started after
its call. No caller returns before such an fsync has succeeded, so the guarantee of a plain
``fsync(dir)`` holds; only the count of fsyncs drops. A failed fsync is raised in the thread
that ran it, and the threads that waited for it try again themselves.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


class _Directory:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.started = 0  # fsyncs begun on this directory
        self.done = 0  # the latest begun fsync that has succeeded
        self.running = False
        self.users = 0


_directories: dict[str, _Directory] = {}
_registry = threading.Lock()


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_directory(path: Path) -> None:
    """Return once an fsync of ``path`` that started after this call has succeeded."""
    key = os.fspath(path)
    with _registry:
        directory = _directories.setdefault(key, _Directory())
        directory.users += 1
    try:
        _sync(directory, key)
    finally:
        with _registry:
            directory.users -= 1
            if directory.users == 0:  # nobody waits on it: the table keeps only busy directories
                del _directories[key]


def _sync(directory: _Directory, path: str) -> None:
    with directory.cond:
        # The fsync running now (if any) may have begun before our caller's rename: we need the next.
        needed = directory.started + 1
        while directory.done < needed:
            if directory.running:
                directory.cond.wait()
                continue
            directory.running = True
            directory.started += 1
            mine = directory.started
            directory.cond.release()
            ok = False
            try:
                _fsync(path)
                ok = True
            finally:
                directory.cond.acquire()
                directory.running = False
                if ok:
                    directory.done = mine
                directory.cond.notify_all()
