"""The bench's workloads, driven with real clients: curl for uploads, Python's ssl for idle sessions.

Each workload returns a Sample: wall seconds as the clients saw them, server CPU seconds over
the peer's whole process tree (for the gateway: until every upload has its final status), the
CPU seconds of its FTP server alone (the gateway's ingress; for the others the same as server
CPU), and workload-specific figures. Workloads assert that every upload arrived; a bench that counts
failed uploads as fast ones would flatter the loser.
"""

from __future__ import annotations

import ftplib
import os
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.peers import GatewayPeer, Peer
from tests.bench.procs import cpu_seconds, pss_bytes
from tests.support.clients import SessionReusingFTP

# curl 7.88 with TLS 1.3 gets "522" on the second data connection of a session from the gateway
# and from vsftpd with require_ssl_reuse alike (the resumed session is not the control
# connection's): every peer is driven with TLS 1.2 until that is fixed. BENCH_TLS_MAX="" uses
# curl's defaults.
TLS_MAX = os.environ.get("BENCH_TLS_MAX", "1.2")


@dataclass
class Sample:
    wall: float
    cpu: float
    ftp_cpu: float
    extra: dict[str, float] = field(default_factory=dict)


class _Cpu:
    """CPU seconds a peer spends from now on: all its processes, and its FTP server's alone."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.before = self._now()

    def _now(self) -> tuple[float, float]:
        whole = cpu_seconds(self.peer.pids())
        # One reading where the FTP server is the whole peer, so that the two figures are equal there.
        return whole, whole if self.peer.ftp_pids() == self.peer.pids() else cpu_seconds(self.peer.ftp_pids())

    def spent(self) -> tuple[float, float]:
        (whole, ftp), (whole_before, ftp_before) = self._now(), self.before
        return whole - whole_before, ftp - ftp_before


@dataclass(frozen=True)
class Client:
    pki: Path
    cert: str = "employee"

    def curl_args(self) -> list[str]:
        args = [
            "curl",
            "--silent",
            "--show-error",
            "--ssl-reqd",
            "--cacert",
            str(self.pki / "server-ca.pem"),
            "--cert",
            str(self.pki / "clients" / f"{self.cert}.pem"),
            "--key",
            str(self.pki / "clients" / f"{self.cert}.key"),
            "-u",
            "anonymous:guest",
        ]
        return [*args, "--tls-max", TLS_MAX] if TLS_MAX else args


def _run(command: list[str], timeout: float) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"curl failed ({result.returncode}): {result.stderr.strip()[-300:]}")


def _settled(peer: Peer, names: list[str], timeout: float = 300.0) -> None:
    """For the gateway: wait until each upload's status file says code 2 (its CPU is all spent)."""
    if not isinstance(peer, GatewayPeer):
        return
    pending = {f"status_heartbeat_{name}.xml" for name in names}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for status in list(pending):
            path = peer.out / status
            if path.exists() and b"<StatusCode>2</StatusCode>" in path.read_bytes():
                pending.discard(status)
        if pending:
            time.sleep(0.05)
    if pending:
        raise RuntimeError(f"{len(pending)} uploads without status code 2 after {timeout}s, e.g. {min(pending)}")


class _PeakMemory(threading.Thread):
    """Samples the server's memory while a workload runs: the peak above where it started."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.base = pss_bytes(pids)
        self.peak = self.base
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            self.peak = max(self.peak, pss_bytes(self.pids))

    def growth(self) -> int:
        self.done.set()
        self.join()
        return max(0, self.peak - self.base)


def measure(peer: Peer, work: Callable[[], list[str]]) -> Sample:
    """Run ``work`` (which returns the uploaded names); wall until it returns, CPU until settled."""
    os.sync()  # no dirty pages of the previous workload throttle this one's writes
    cpu = _Cpu(peer)
    memory = _PeakMemory(peer.pids())
    memory.start()
    started = time.perf_counter()
    names = work()
    wall = time.perf_counter() - started
    grown = memory.growth()
    _settled(peer, names)
    return Sample(wall, *cpu.spent(), {"peak +MiB": grown / (1 << 20)})


def large_file(peer: Peer, client: Client, payload: Path) -> Sample:
    name = f"large-{uuid.uuid4().hex[:12]}"

    def work() -> list[str]:
        _run([*client.curl_args(), "-T", str(payload), f"ftp://127.0.0.1:{peer.port}{peer.upload_dir}{name}"], 900)
        return [name]

    sample = measure(peer, work)
    sample.extra["MiB/s"] = payload.stat().st_size / (1 << 20) / sample.wall
    return sample


def small_files(peer: Peer, client: Client, payload: Path, clients: int, files: int) -> Sample:
    """``clients`` curl processes at once, each uploading ``files`` files on one connection."""
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="bench-curl-") as tmp:
        configs = []
        for c in range(clients):
            config = Path(tmp) / f"client-{c}.curlrc"
            config.write_text(
                "".join(
                    f'upload-file = "{payload}"\nurl = "ftp://127.0.0.1:{peer.port}{peer.upload_dir}s{run}-{c}-{f}"\n'
                    for f in range(files)
                )
            )
            configs.append(config)

        # --fail-early: curl's exit code is otherwise the last upload's, and a refused one in the
        # middle (a 425 when the client address holds too many passive ports) only shows as a
        # missing status after _settled's timeout.
        command = [*client.curl_args(), "--fail-early", "--config"]

        def work() -> list[str]:
            with ThreadPoolExecutor(clients) as pool:
                for done in pool.map(lambda cfg: _run([*command, str(cfg)], 900), configs):
                    del done
            return [f"s{run}-{c}-{f}" for c in range(clients) for f in range(files)]

        sample = measure(peer, work)
    sample.extra["uploads/s"] = clients * files / sample.wall
    # Each client's uploads follow one another: its time per upload is the wall time over its files.
    sample.extra["ms/upload"] = 1000 * sample.wall / files
    return sample


def new_connections(peer: Peer, client: Client, payload: Path, connections: int) -> Sample:
    """``connections`` curl processes one after the other, each a new connection with one upload."""
    run = uuid.uuid4().hex[:8]

    def work() -> list[str]:
        names = [f"c{run}-{n}" for n in range(connections)]
        for name in names:
            _run([*client.curl_args(), "-T", str(payload), f"ftp://127.0.0.1:{peer.port}{peer.upload_dir}{name}"], 60)
        return names

    sample = measure(peer, work)
    sample.extra["connections/s"] = connections / sample.wall
    return sample


def status_latency(peer: GatewayPeer, client: Client, payload: Path, uploads: int) -> Sample:
    """Sequential uploads; the time from curl's exit (after 226) until the status file says code 2."""
    samples = []
    cpu = _Cpu(peer)
    started = time.perf_counter()
    for _ in range(uploads):
        name = f"lat-{uuid.uuid4().hex[:12]}"
        _run([*client.curl_args(), "-T", str(payload), f"ftp://127.0.0.1:{peer.port}{peer.upload_dir}{name}"], 60)
        uploaded = time.perf_counter()
        status = peer.out / f"status_heartbeat_{name}.xml"
        deadline = uploaded + 30
        while not (status.exists() and b"<StatusCode>2</StatusCode>" in status.read_bytes()):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{name} has no status code 2 after 30 s")
            time.sleep(0.002)
        samples.append(time.perf_counter() - uploaded)
    samples.sort()
    return Sample(
        time.perf_counter() - started,
        *cpu.spent(),
        {"p50 ms": 1000 * samples[len(samples) // 2], "max ms": 1000 * samples[-1]},
    )


def idle_sessions(peer: Peer, client: Client, sessions: int) -> Sample:
    """Log ``sessions`` clients in (TLS with the certificate, PROT P) and leave them idle."""
    context = ssl.create_default_context(cafile=str(client.pki / "server-ca.pem"))
    context.load_cert_chain(
        str(client.pki / "clients" / f"{client.cert}.pem"), str(client.pki / "clients" / f"{client.cert}.key")
    )
    if TLS_MAX == "1.2":
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    before = pss_bytes(peer.pids())
    cpu = _Cpu(peer)
    opened: list[ftplib.FTP_TLS] = []
    started = time.perf_counter()
    try:
        for _ in range(sessions):
            session = SessionReusingFTP(context=context, timeout=30)
            session.connect("127.0.0.1", peer.port)
            opened.append(session)
            session.login("anonymous", "guest")
            session.prot_p()
        wall = time.perf_counter() - started
        time.sleep(1)  # let the servers finish their per-session work before reading memory
        after = pss_bytes(peer.pids())
        spent = cpu.spent()
    finally:
        for session in opened:
            try:
                session.quit()
            except (OSError, EOFError, ftplib.Error):
                session.close()
    return Sample(wall, *spent, {"KiB/session": (after - before) / sessions / 1024})
