"""How the gateway's cost grows: with concurrent clients, with files in /out, with past transactions.

    python -m tests.bench.growth            # 1/4/16/64 clients; 0/1,000/10,000 files; 0/10,000/100,000 transactions
    python -m tests.bench.growth --quick    # tiny levels, 1 round (the smoke test)

Time per upload is a client's wall time over its files (each client uploads one after the other
on one connection); memory per upload is the peak growth of the gateway's memory (PSS of all
its processes) over the number of uploads in flight. Past transactions are put on the volume
as the gateway leaves them (a spooled payload, a ledger entry and a transaction id reservation
each), in the layout of this branch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway_common.events import new_id
from gateway_common.storage import StorageLayout

from tests.bench import workloads as w
from tests.bench.calibrate import report_machine
from tests.bench.peers import GATEWAY_TENANT, GatewayPeer
from tests.bench.volume import bench_volume
from tests.support.gateway import BIN


@dataclass(frozen=True)
class Levels:
    rounds: int
    clients: tuple[int, ...]
    files_per_client: int
    out_files: tuple[int, ...]
    past: tuple[int, ...]
    uploads: int  # per measurement of the /out and past-transaction levels


FULL = Levels(
    rounds=3,
    clients=(1, 4, 16, 64),
    files_per_client=10,
    out_files=(0, 1000, 10000),
    past=(0, 10000, 100000),
    uploads=20,
)
QUICK = Levels(rounds=1, clients=(1, 4), files_per_client=2, out_files=(0, 10), past=(0, 10), uploads=2)

Rows = dict[str, dict[str, list[float]]]  # level -> figure -> one value per round
STATUS_BODY = b'<?xml version="1.0" encoding="UTF-8"?>\n<Status>' + b"x" * 600 + b"</Status>\n"


def concurrency(peer: GatewayPeer, client: w.Client, small: Path, levels: Levels) -> Rows:
    rows: Rows = {}
    for _ in range(levels.rounds):
        for clients in levels.clients:
            peer.clear()
            sample = w.small_files(peer, client, small, clients, levels.files_per_client)
            row = _times(rows, f"{clients} clients", sample, clients * levels.files_per_client)
            row.setdefault("KiB/upload in flight", []).append(sample.extra["peak +MiB"] * 1024 / clients)
    return rows


def _times(rows: Rows, level: str, sample: w.Sample, uploads: int) -> dict[str, list[float]]:
    """Record a client's wall time and the gateway's CPU per upload: curl's one-second stalls
    (README, Performance) move the first by 1000 ms / files per client each, never the second."""
    row = rows.setdefault(level, {})
    row.setdefault("ms/upload", []).append(sample.extra["ms/upload"])
    row.setdefault("CPU ms/upload", []).append(1000 * sample.cpu / uploads)
    row.setdefault("ingress CPU ms/upload", []).append(1000 * sample.ftp_cpu / uploads)
    return row


def _fill_out(out: Path, count: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (out / f"status_heartbeat_fill-{n}.xml").write_bytes(STATUS_BODY)


def out_files(peer: GatewayPeer, client: w.Client, small: Path, levels: Levels) -> Rows:
    rows: Rows = {}
    for _ in range(levels.rounds):
        for count in levels.out_files:
            peer.clear()
            _fill_out(peer.out, count)
            sample = w.small_files(peer, client, small, 1, levels.uploads)
            _times(rows, f"{count} files in /out", sample, levels.uploads)
    peer.clear()
    return rows


def add_past(data: Path, count: int) -> None:
    layout = StorageLayout(data)
    for _ in range(count):
        gateway_txid = new_id()
        spool = layout.spool_txn(gateway_txid)
        spool.mkdir(parents=True)
        (spool / "payload").write_bytes(b"past upload\n")
        ledger = layout.ledger_file(gateway_txid)
        ledger.parent.mkdir(parents=True, exist_ok=True)
        ledger.write_bytes(b"\n" * 200)
        reservation = layout.reservation(GATEWAY_TENANT, "heartbeat", f"past-{uuid.uuid4().hex}")
        reservation.parent.mkdir(parents=True, exist_ok=True)
        reservation.write_text(gateway_txid)


def past_transactions(peer: GatewayPeer, client: w.Client, small: Path, levels: Levels) -> Rows:
    rows: Rows = {}
    present = 0
    for count in levels.past:  # cumulative: the volume only grows
        add_past(peer.running.data_dir, count - present)
        present = count
        for _ in range(levels.rounds):
            peer.clear()
            sample = w.small_files(peer, client, small, 1, levels.uploads)
            _times(rows, f"{count} past transactions", sample, levels.uploads)
    return rows


def table(title: str, rows: Rows) -> str:
    figures = list(next(iter(rows.values())))
    lines = [f"| {title} | " + " | ".join(figures) + " |", "|---" * (len(figures) + 1) + "|"]
    for level, row in rows.items():
        cells = []
        for figure in figures:
            values = row[figure]
            median = statistics.median(values)
            cells.append(f"{median:.1f}" if len(values) == 1 else f"{median:.1f} ({min(values):.1f}-{max(values):.1f})")
        lines.append(f"| {level} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    levels = QUICK if args.quick else FULL
    started = datetime.now(UTC)
    with bench_volume("growth-bench-") as (work, volume):
        machine = report_machine(work)
        subprocess.run([str(BIN / "gateway-pki"), "demo", "--dir", str(work / "pki")], check=True, capture_output=True)
        small = work / "small.bin"
        small.write_bytes(os.urandom(10 * 1024))
        client = w.Client(work / "pki")
        peer = GatewayPeer(work, work / "pki")
        peer.start()
        try:
            results = {
                "concurrent clients": concurrency(peer, client, small, levels),
                "files in /out": out_files(peer, client, small, levels),
                "past transactions": past_transactions(peer, client, small, levels),
            }
        finally:
            peer.stop()
    for title, rows in results.items():
        print(f"\n{table(title, rows)}")
    target = args.json or Path("var/bench") / f"growth-{started:%Y%m%dT%H%M%SZ}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    report = {"started": started.isoformat(), "volume": volume, "machine": machine, "levels": levels.__dict__}
    target.write_text(json.dumps(report | {"results": results}))
    print(f"\nfigures written to {target}")


if __name__ == "__main__":
    main()
