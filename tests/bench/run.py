"""`make bench`: figures for the ingress's FTPS throughput and the upload-to-status latency.

    1. upload throughput with curl: stock pyftpdlib FTPS vs the gateway (which also checks the
       client certificate, hashes, fsyncs and publishes every upload);
    2. upload-to-status latency: sequential heartbeat uploads, time from curl's start until the
       status file in /out says "accepted".

Prints figures; it asserts nothing (speed targets are read, not unit-tested).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.support.broker import private_vhost
from tests.support.clients import ClientCert, curl, wait_for_status
from tests.support.gateway import BIN, Gateway
from tests.support.ports import free_port, free_port_range

SIZE_MB = int(os.environ.get("BENCH_SIZE_MB", "1024"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
LATENCY_UPLOADS = int(os.environ.get("BENCH_LATENCY_UPLOADS", "50"))


def _upload_seconds(command: list[str]) -> float:
    # Each round starts with no dirty pages from the last: stock pyftpdlib never fsyncs, and the
    # kernel would otherwise throttle its next writes while flushing the previous gigabyte.
    os.sync()
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def _best_rate(label: str, command: list[str]) -> float:
    times = [_upload_seconds(command) for _ in range(ROUNDS)]
    rate = SIZE_MB / min(times)
    print(f"  {label:<38} best {rate:7.1f} MB/s   median {SIZE_MB / statistics.median(times):7.1f} MB/s")
    return rate


def throughput(work: Path, pki: Path, gateway: Gateway) -> None:
    payload = work / "payload.bin"
    with payload.open("wb") as handle:
        for _ in range(SIZE_MB):
            handle.write(os.urandom(1 << 20))
    print(f"FTPS upload of {SIZE_MB} MiB with curl over loopback ({ROUNDS} rounds)")

    stock_root = work / "stock"
    stock_root.mkdir()
    port, passive = free_port(), free_port_range(10)
    stock = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.stock_server", str(port), str(stock_root),
         str(pki / "server.pem"), str(pki / "server.key"), f"{passive.start}-{passive.stop - 1}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(1.5)
        base = ["curl", "-sS", "--ssl-reqd", "--cacert", str(pki / "server-ca.pem"), "-T", str(payload)]
        stock_rate = _best_rate(
            "stock pyftpdlib TLS_FTPHandler", [*base, "-u", "bench:bench", f"ftp://127.0.0.1:{port}/payload-x"]
        )
        (stock_root / "payload-x").unlink()
    finally:
        stock.terminate()
        stock.wait()

    employee = ClientCert.from_pki(pki, "employee")
    rates = []
    for _ in range(ROUNDS):
        name = f"bench-{uuid.uuid4().hex[:8]}"
        os.sync()
        started = time.perf_counter()
        result = curl(gateway.ftps_port, pki, employee, f"/heartbeat/{name}", "-T", str(payload), timeout=600)
        if result.returncode != 0:
            raise SystemExit(f"gateway upload failed: {result.stderr}")
        rates.append(SIZE_MB / (time.perf_counter() - started))
    gateway_rate = max(rates)
    print(
        f"  {'ftps-gateway (mTLS, SHA-256, fsync, publish)':<38} best {gateway_rate:7.1f} MB/s   "
        f"median {statistics.median(rates):7.1f} MB/s"
    )
    print(f"  gateway / stock: {gateway_rate / stock_rate:.0%}")


def latency(pki: Path, gateway: Gateway, work: Path) -> None:
    employee = ClientCert.from_pki(pki, "employee")
    out = gateway.out_dir("company/30808460")
    samples = []
    for _ in range(LATENCY_UPLOADS):
        name = f"lat-{uuid.uuid4().hex[:8]}"
        payload = work / name
        payload.write_bytes(b"ping")
        started = time.perf_counter()
        if curl(gateway.ftps_port, pki, employee, "/heartbeat/", "-T", str(payload)).returncode != 0:
            raise SystemExit("latency upload failed")
        uploaded = time.perf_counter()
        wait_for_status(out, f"status_heartbeat_{name}.xml", 2, poll=0.002)
        samples.append((uploaded - started, time.perf_counter() - uploaded))
    after_226 = sorted(s[1] for s in samples)
    total = sorted(s[0] + s[1] for s in samples)
    print(f"Upload-to-status latency, {LATENCY_UPLOADS} sequential heartbeat uploads (status file polled every 2 ms)")
    for label, values in (("226 reply -> status code 2 file", after_226), ("curl start -> status code 2 file", total)):
        p50 = values[len(values) // 2]
        p95 = values[int(len(values) * 0.95) - 1]
        print(f"  {label:<34} p50 {p50 * 1000:6.0f} ms   p95 {p95 * 1000:6.0f} ms   max {values[-1] * 1000:6.0f} ms")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ftps-bench-") as tmp, private_vhost() as amqp_url:
        work = Path(tmp)
        pki = work / "pki"
        subprocess.run([str(BIN / "gateway-pki"), "demo", "--dir", str(pki)], check=True, capture_output=True)
        gateway = Gateway(work / "gateway", pki, amqp_url).start()
        try:
            latency(pki, gateway, work)
            throughput(work, pki, gateway)
        finally:
            gateway.stop()


if __name__ == "__main__":
    main()
