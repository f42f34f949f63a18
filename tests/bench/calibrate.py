"""How fast this machine is right now, in the three kinds of work a gateway upload is made of.

Two machines of the same kind (2 cores, same image) gave the pipeline bench 367-384 and 220-256
transactions/s a session apart, with unchanged code: every service's CPU per message differed by
30-70 %. The benches record these figures (best of 3, so that a moment's load counts less) beside
their results, so that runs on different machines or days can be told apart from code changes.

    python -m tests.bench.calibrate
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path


def _best(run: Callable[[], float], tries: int = 3) -> float:
    return min(run() for _ in range(tries))


def _interpreter() -> float:
    """Milliseconds for a fixed amount of plain Python (dict and attribute work, calls)."""
    started = time.perf_counter()
    table: dict[int, int] = {}
    for i in range(300_000):
        table[i % 1024] = table.get(i % 1024, 0) + i
    return 1000 * (time.perf_counter() - started)


def _sha256() -> float:
    """MiB/s of hashlib's SHA-256 (what the ingress does to every byte)."""
    data = os.urandom(16 << 20)
    started = time.perf_counter()
    hashlib.sha256(data).hexdigest()
    return 16 / (time.perf_counter() - started)


def _hand_over() -> float:
    """Microseconds per round trip between two threads (how the ingress's threads pass work)."""
    ping, pong = threading.Event(), threading.Event()
    rounds = 2000

    def echo() -> None:
        for _ in range(rounds):
            ping.wait()
            ping.clear()
            pong.set()

    thread = threading.Thread(target=echo)
    thread.start()
    started = time.perf_counter()
    for _ in range(rounds):
        ping.set()
        pong.wait()
        pong.clear()
    elapsed = time.perf_counter() - started
    thread.join()
    return 1e6 * elapsed / rounds


def _create_and_sync(directory: str | None) -> float:
    """Microseconds to create, write and fsync one small file in a new folder of ``directory``."""
    with tempfile.TemporaryDirectory(prefix="calibrate-", dir=directory) as tmp:
        started = time.perf_counter()
        for i in range(50):
            fd = os.open(os.path.join(tmp, f"f{i}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, b"x" * 10240)
            os.fsync(fd)
            os.close(fd)
        return 1e6 * (time.perf_counter() - started) / 50


def machine_speed(directory: str | None = None) -> dict[str, float]:
    """The figures, best of 3; the file work in ``directory`` (the bench's volume) when given."""
    return {
        "python loop ms": round(_best(_interpreter), 2),
        "sha256 MiB/s": round(max(_sha256() for _ in range(3)), 1),
        "thread round trip us": round(_best(_hand_over), 1),
        "create+fsync us": round(_best(lambda: _create_and_sync(directory)), 1),
    }


def report_machine(directory: Path) -> dict[str, float]:
    """``machine_speed`` on a bench's volume, printed as the bench starts."""
    figures = machine_speed(str(directory))
    print(f"machine: {figures}", flush=True)
    return figures


if __name__ == "__main__":
    print(json.dumps(machine_speed(), indent=2))
