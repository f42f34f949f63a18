"""The bench's py-spy profiles count CPU, not waiting: a thread blocked in fsync must not show up."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.bench.spy import recording

# One thread waits in fsync (the GIL released) the whole time while the main thread computes.
_WORKLOAD = """
import os, sys, threading
def flush():
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)
    while True:
        os.write(fd, b"x" * 4096)
        os.fsync(fd)
threading.Thread(target=flush, daemon=True).start()
def compute():
    n = 0
    while True:
        n = (n * 31 + 7) % 1000003
compute()
"""


def test_profile_samples_threads_holding_the_gil_only(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", _WORKLOAD, str(tmp_path / "synced")])
    try:
        time.sleep(0.5)
        with recording({"workload": child.pid}, tmp_path) as outputs:
            time.sleep(2)
    finally:
        child.kill()
        child.wait()
    samples = {"compute": 0, "flush": 0}
    for line in outputs["workload"].read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        for function in samples:
            if f";{function} (" in stack:
                samples[function] += int(count)
    # Without --gil the fsync waits count (80-160 samples against ~600 here); the flushing thread
    # holds the GIL only for its short steps between fsyncs (0-1 samples).
    assert samples["compute"] > 50, samples
    assert samples["flush"] < samples["compute"] / 50, samples
