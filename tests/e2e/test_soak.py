"""Soak: tens of thousands of uploads through every service, with lifetimes shortened by settings.

Memory (RSS) and open file descriptors of every service must stay flat, and the data on disk
must return to its baseline once the sweep has expired everything. The figures are printed.
GATEWAY_SOAK_UPLOADS sets the number of uploads (default 3,000: a few minutes on a busy 2-core
machine; 20,000 for the long run); the loop is bounded by it and by a deadline.

The ingress caches a TLS session (about 14 KiB, the client's certificate chain) per full
handshake until GATEWAY_TLS_SESSION_TIMEOUT: its RSS rises until sessions start to expire and
then stays level. The soak shortens the timeout to GATEWAY_SOAK_TLS_SESSION_TIMEOUT seconds
(default 10) so that the level is reached early, and fails when any service's RSS still grows by
more than PLATEAU_GROWTH from the half-way sample to the end (after the sweep).
"""

from __future__ import annotations

import io
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.burst import own_gateway
from tests.support.clients import ClientCert, ftps
from tests.support.gateway import SERVICES, Gateway

pytestmark = pytest.mark.e2e
UPLOADS = int(os.environ.get("GATEWAY_SOAK_UPLOADS", "3000"))
CLIENTS = 4
DEADLINE = max(600.0, UPLOADS / 5)  # seconds: a bound (5 uploads/s at least), not a performance target
SHORT_SECONDS = 20.0
SHORT = {
    "GATEWAY_RETENTION_INTERVAL": "2",
    "GATEWAY_RETENTION_DAYS": str(SHORT_SECONDS / 86400),
    "GATEWAY_PAYLOAD_REPLAY_DAYS": str(2 / 86400),
    "GATEWAY_LEDGER_DAYS": str(SHORT_SECONDS / 86400),
    "GATEWAY_TXID_DAYS": str(SHORT_SECONDS / 86400),
    "GATEWAY_TEMP_FILE_AGE": str(SHORT_SECONDS),
    "GATEWAY_UPLOAD_SIZE_GRACE": "5",
    "GATEWAY_TLS_SESSION_TIMEOUT": os.environ.get("GATEWAY_SOAK_TLS_SESSION_TIMEOUT", "10"),
}
PLATEAU_GROWTH = 8 * 2**20  # bytes of RSS a service may gain from the half-way sample to the end
ROUTES = ("heartbeat", "tax-reports")  # the heartbeat adapter and the HTTP adapter with its backend
AREAS = ("spool", "ledger", "outbox", "tenants", "txids", "recent", "audit")


@pytest.fixture(scope="module")
def soak_gateway(tmp_path_factory: pytest.TempPathFactory, pki: Path) -> Iterator[Gateway]:
    with own_gateway(tmp_path_factory.mktemp("soak"), pki, SHORT) as gw:
        yield gw


def _rss_and_fds(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return rss * 1024, len(os.listdir(f"/proc/{pid}/fd"))


def _disk(data_dir: Path) -> dict[str, tuple[int, int]]:
    """Bytes and files per area of the data dir."""
    usage = {}
    for area in AREAS:
        size = files = 0
        for folder, _dirs, names in os.walk(data_dir / area):
            for name in names:
                try:
                    size += os.lstat(os.path.join(folder, name)).st_size
                except FileNotFoundError:
                    continue
                files += 1
        usage[area] = (size, files)
    return usage


def _sample(gw: Gateway) -> dict[str, tuple[int, int]]:
    return {service: _rss_and_fds(gw.procs[service].pid) for service in SERVICES}


def _print(label: str, sample: dict[str, tuple[int, int]], disk: dict[str, tuple[int, int]]) -> None:
    services = "  ".join(f"{s} {rss / 2**20:.0f}MiB/{fds}fd" for s, (rss, fds) in sample.items())
    areas = "  ".join(f"{a} {size / 1024:.0f}KiB/{files}f" for a, (size, files) in disk.items())
    print(f"{label:>14}: {services}\n{'':>14}  disk: {areas}")


def _client(gw: Gateway, pki: Path, count: int, done: list[int], stop: threading.Event, errors: list[str]) -> None:
    session = ftps(gw.ftps_port, pki, ClientCert.from_pki(pki, "employee"))
    try:
        session.voidcmd("TYPE I")
        for n in range(count):
            if stop.is_set():
                return
            route = ROUTES[n % len(ROUTES)]
            reply = session.storbinary(f"STOR {route}/soak-{uuid.uuid4().hex}.xml", io.BytesIO(b"<soak/>"))
            if not reply.startswith("226"):
                errors.append(reply)
            done[0] += 1
    finally:
        session.quit()


@pytest.mark.timeout(DEADLINE + 300)
def test_soak_memory_fds_and_disk_stay_bounded(soak_gateway: Gateway, pki: Path) -> None:
    gw = soak_gateway
    baseline_disk = _disk(gw.data_dir)
    done, errors, stop = [0], [], threading.Event()
    samples: list[tuple[int, dict[str, tuple[int, int]]]] = [(0, _sample(gw))]
    _print("start", samples[0][1], baseline_disk)
    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        clients = [pool.submit(_client, gw, pki, UPLOADS // CLIENTS, done, stop, errors) for _ in range(CLIENTS)]
        next_sample = UPLOADS // 10
        while not all(c.done() for c in clients):
            if time.monotonic() - started > DEADLINE:
                stop.set()
            if done[0] >= next_sample:
                samples.append((done[0], _sample(gw)))
                _print(f"{done[0]} uploads", samples[-1][1], _disk(gw.data_dir))
                next_sample += UPLOADS // 10
            time.sleep(0.5)
        for client in clients:
            client.result()
    elapsed = time.monotonic() - started
    samples.append((done[0], _sample(gw)))
    _print("last upload", samples[-1][1], _disk(gw.data_dir))
    assert not errors, errors[:3]
    print(f"{done[0]} uploads in {elapsed:.0f}s ({done[0] / elapsed:.0f}/s)")
    assert done[0] == UPLOADS - UPLOADS % CLIENTS, "the deadline cut the soak short"

    # Every upload reaches its final status, then the sweep takes the disk back to its baseline.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        accepted = sum(
            float(line.rsplit(" ", 1)[1])
            for line in gw.metrics("status").splitlines()
            if line.startswith('gateway_status_files_written_total{code="2"}')
        )
        disk = _disk(gw.data_dir)
        if accepted >= done[0] and all(disk[a][1] <= baseline_disk[a][1] + 50 for a in AREAS):
            break
        time.sleep(2)
    end = _sample(gw)
    _print("after sweep", end, disk)
    assert accepted >= done[0], f"{accepted} accepted of {done[0]}"
    for area in AREAS:
        assert disk[area][1] <= baseline_disk[area][1] + 50, (area, disk[area], baseline_disk[area])

    # Memory levels off: whatever a service caches is bounded, so the second half (to the end of
    # the sweep) adds (almost) nothing.
    half = next(sample for count, sample in samples if count >= done[0] // 2)
    growth = {service: end[service][0] - half[service][0] for service in SERVICES}
    print("RSS growth in the second half: " + "  ".join(f"{s} {g / 2**20:+.1f}MiB" for s, g in growth.items()))
    for service, grown in growth.items():
        assert grown <= PLATEAU_GROWTH, (service, half[service][0], end[service][0])

    # Memory and descriptors: flat from the first tenth of the run to the end.
    warm = samples[1][1] if len(samples) > 1 else samples[0][1]
    for service in SERVICES:
        rss_warm, fds_warm = warm[service]
        rss_end, fds_end = end[service]
        assert rss_end <= rss_warm * 1.25 + 16 * 2**20, (service, rss_warm, rss_end)
        assert fds_end <= fds_warm + 16, (service, fds_warm, fds_end)
