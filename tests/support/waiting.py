"""Waiting for what another thread or process does in its own time, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(condition: Callable[[], bool], what: str, timeout: float = 10, poll: float = 0.02) -> None:
    """Wait until ``condition()`` holds; fail saying ``what`` was not reached after ``timeout`` seconds.

    For effects that come a moment after the one a test saw: a server acting on a client's close,
    a file written after the reply, a record saved after the file the test waited for.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(poll)
