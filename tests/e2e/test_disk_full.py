"""A full disk refuses uploads cleanly (a 4xx reply, no half file, no used-up transaction id)
and the gateway takes uploads again as soon as there is space."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import private_vhost
from tests.support.clients import ClientCert, curl, wait_for_status
from tests.support.files import files_below
from tests.support.gateway import Gateway
from tests.support.tmpfs import small_tmpfs
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e
TENANT = "company/30808460"
DISK_BYTES = 4 << 20


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory: pytest.TempPathFactory, pki: Path) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("disk-full")
    data = root / "data"
    data.mkdir()
    with small_tmpfs(data, DISK_BYTES), private_vhost() as url:
        gw = Gateway(root, pki, url)
        try:
            yield gw.start()
        finally:
            gw.stop()


def _fill(path: Path) -> None:
    """Write into ``path`` until the filesystem is full."""
    with path.open("wb", buffering=0) as handle:
        for size in (64 << 10, 512):  # then the last few bytes, so that not even a small upload fits
            with pytest.raises(OSError, match=os.strerror(errno.ENOSPC)):  # noqa: PT012
                while True:
                    handle.write(b"\0" * size)


def _upload(gw: Gateway, source: Path) -> subprocess.CompletedProcess[str]:
    client = ClientCert.from_pki(gw.pki, "employee")
    return curl(gw.ftps_port, gw.pki, client, "/heartbeat/", "-T", str(source), "-v")


def _refused(gw: Gateway) -> float:
    """Uploads the ingress counted as failed or aborted."""
    samples = [line for line in gw.metrics("ingress").splitlines() if line.startswith("gateway_uploads_total{")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in samples if 'result="failed"' in line or "aborted" in line)


def _payloads(gw: Gateway) -> list[Path]:
    return files_below(gw.data_dir / "spool")


def test_upload_larger_than_the_free_space_is_refused_without_a_trace(small_disk: Gateway, tmp_path: Path) -> None:
    txid = f"big-{uuid.uuid4().hex[:10]}"
    source = tmp_path / txid
    source.write_bytes(b"x" * (2 * DISK_BYTES))
    before = _payloads(small_disk)
    refused_before = _refused(small_disk)

    result = _upload(small_disk, source)

    assert result.returncode != 0
    # The gateway answers 452 and drops the data connection; curl, if still sending, may see
    # only the reset and never read the reply, so the gateway's own count is checked too.
    assert "< 452 Upload refused: No space left" in result.stderr or "Connection reset" in result.stderr, result.stderr[
        -2000:
    ]
    deadline = time.monotonic() + 10
    while _refused(small_disk) == refused_before and time.monotonic() < deadline:
        time.sleep(0.1)  # the refusal is counted once the spool writer has been cleaned up
    assert _refused(small_disk) == refused_before + 1
    # Counted when refused; its partial payload goes a moment later (at once if curl read the 452).
    eventually(lambda: _payloads(small_disk) == before, "the refused upload's partial payload was removed")
    # The transaction id was not used up: the same name goes through once it fits.
    source.write_bytes(b"small now")
    assert _upload(small_disk, source).returncode == 0
    wait_for_status(small_disk.out_dir(TENANT), f"status_heartbeat_{txid}.xml", 2)


def test_full_disk_refuses_uploads_and_recovers_when_space_returns(small_disk: Gateway, tmp_path: Path) -> None:
    txid = f"full-{uuid.uuid4().hex[:10]}"
    source = tmp_path / txid
    source.write_bytes(b"<report/>" * 100)
    filler = small_disk.data_dir / "filler"
    _fill(filler)
    try:
        result = _upload(small_disk, source)
        assert result.returncode != 0
        assert re.search(r"< 45[12] .*No space left on device", result.stderr), result.stderr[-2000:]
        assert not [p for p in _payloads(small_disk) if txid in str(p)]
        for service in ("ingress", "router", "status", "adapter-heartbeat"):
            assert small_disk.procs[service].poll() is None, f"{service} died on a full disk"
    finally:
        filler.unlink()

    assert _upload(small_disk, source).returncode == 0
    wait_for_status(small_disk.out_dir(TENANT), f"status_heartbeat_{txid}.xml", 2)
