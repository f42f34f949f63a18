"""The py-spy profile of tests.bench.hotspots counts where Python holds the GIL, not where threads wait."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bench.spy import recording, top_functions

pytestmark = pytest.mark.e2e

# One thread computes in Python; the other hashes in C without the GIL and waits in fsync, as the
# ingress's spool writers and upload threads do.
PROGRAM = """
import hashlib, os, sys, threading

def syncing(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    data = bytes(16 << 20)
    while True:
        hashlib.sha256(data)
        os.write(fd, b"x" * 4096)
        os.fsync(fd)

def computing():
    n = 0
    while True:
        n = (n * 31 + 7) % 1000003

threading.Thread(target=syncing, args=(sys.argv[1],), daemon=True).start()
print("ready", flush=True)
computing()
"""


def test_threads_without_the_gil_are_not_counted(tmp_path: Path) -> None:
    script = tmp_path / "busy.py"
    script.write_text(PROGRAM)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "synced")], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        with recording({"busy": proc.pid}, tmp_path) as outputs:
            time.sleep(3)
    finally:
        proc.kill()
        proc.wait()
    own, _inclusive = top_functions(outputs["busy"])
    shares: dict[str, float] = {}
    for share, frame in own:
        function = frame.split(" ")[0]
        shares[function] = shares.get(function, 0) + share
    assert shares.get("computing", 0) > 0.8, own
    assert shares.get("syncing", 0) < 0.1, own
