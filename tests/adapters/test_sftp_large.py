"""A 1 GiB file goes to the SFTP server streamed: the adapter process's peak memory stays small."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gateway_common.messaging import Bus
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.testing import dispatch, spool, upload_event, watching_status

from tests.support.ports import free_port
from tests.support.sshd import SshServer

BIN = Path(sys.executable).parent
SIZE = 1 << 30
MiB = 1 << 20
# Generous against the 1 GiB file: what matters is that the payload is never held in memory.
PEAK_LIMIT = 256 * MiB


def _peak_rss(pid: int) -> int:
    """The process's high-water mark of resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def _wait_ready(port: int, adapter: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert adapter.poll() is None, "the adapter exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise AssertionError("the adapter did not become ready")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(4 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.timeout(1200)
async def test_a_1_gib_file_is_streamed_with_small_peak_memory(amqp_url: str, sshd: SshServer, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    block = os.urandom(MiB)
    with big.open("wb") as handle:
        for _ in range(SIZE // MiB):
            handle.write(block)
    upload = upload_event(spool(tmp_path, big), tmp_path, file_name="stor_fil.bin")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")} | {
        "GATEWAY_AMQP_URL": amqp_url,
        "GATEWAY_DEMO": "true",
        "GATEWAY_DATA_DIR": str(tmp_path),
        "GATEWAY_HTTP_HOST": "127.0.0.1",
        "GATEWAY_HTTP_PORT": str(port),
        "GATEWAY_LOG_FORMAT": "json",
    }
    bus = Bus(amqp_url)
    await bus.connect()
    log = (tmp_path / "adapter.log").open("wb")
    command = [str(BIN / "gateway-adapter"), "run", "sftp"]
    # Its own process, so that its memory is measured alone; Popen returns at once.
    adapter = subprocess.Popen(command, env=env, stdout=log, stderr=log)  # noqa: ASYNC220
    try:
        await bus.declare_adapter("sftp")
        async with watching_status(bus) as watch:
            await asyncio.to_thread(_wait_ready, port, adapter)
            idle = _peak_rss(adapter.pid)
            started = time.monotonic()
            await dispatch(bus, "sftp", upload, sshd.options())
            (event,) = await watch.wait(upload.gateway_txid, 1, timeout=1100)
            seconds = time.monotonic() - started
            peak = _peak_rss(adapter.pid)
    finally:
        adapter.terminate()
        adapter.wait(30)
        log.close()
        await bus.close()
    assert event.code == events_pb2.STATUS_CODE_ACCEPTED, event
    (delivered,) = sshd.delivered(upload.gateway_txid)
    assert delivered.stat().st_size == SIZE
    assert _sha256(delivered) == upload.sha256
    sys.stderr.write(
        f"\nSFTP adapter, 1 GiB: peak RSS {peak / MiB:.0f} MiB (ready and idle: {idle / MiB:.0f} MiB), "
        f"{seconds:.1f} s ({SIZE / MiB / seconds:.0f} MiB/s)\n"
    )
    assert peak < PEAK_LIMIT
