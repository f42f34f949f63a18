"""Runs callables on pyftpdlib's IO loop from other threads.

pyftpdlib's scheduler is not thread-safe, so work finished elsewhere (fsync, broker confirms)
hands its reply back through a socketpair the IO loop polls like any other connection.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

from gateway_common.logging import get_logger
from pyftpdlib.ioloop import IOLoop

from gateway_ingress.pyftpdlib_internals import LoopMember

log = get_logger(__name__)


class Waker(LoopMember):
    def __init__(self, ioloop: IOLoop) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._pending: collections.deque[tuple[Callable[..., None], tuple[Any, ...]]] = collections.deque()
        self._lock = threading.Lock()
        self._ioloop = ioloop
        self.join_loop(ioloop, self._reader.fileno(), ioloop.READ)

    def call_soon_threadsafe(self, callback: Callable[..., None], *args: Any) -> None:
        with self._lock:
            self._pending.append((callback, args))
        # A full socket buffer means the loop is already due to wake up and drain everything.
        with contextlib.suppress(BlockingIOError):
            self._writer.send(b"\0")

    # --- the IO loop's dispatcher protocol
    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def handle_read_event(self) -> None:
        try:
            while self._reader.recv(4096):
                pass
        except BlockingIOError:
            pass
        while True:
            with self._lock:
                if not self._pending:
                    return
                callback, args = self._pending.popleft()
            try:
                callback(*args)
            except Exception:
                log.exception("callback on the FTP loop failed")

    def handle_error(self) -> None:
        log.exception("waker error")

    def handle_close(self) -> None:
        self.close()

    def close(self) -> None:
        self.leave_loop(self._ioloop)
        self._reader.close()
        self._writer.close()
