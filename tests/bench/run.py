"""`make bench`: the gateway against stock pyftpdlib and vsftpd, in one run, alternating rounds.

    python -m tests.bench.run            # 5 rounds of every workload (about 10 minutes idle)
    python -m tests.bench.run --quick    # 1 round on tiny sizes: `make test` runs it so it cannot rot

Each round runs every workload on every peer, the peers' order rotating from round to round, so
that load from elsewhere on the machine hits all peers alike. The table gives the median and the
min-max over rounds of wall time and server CPU (the whole process tree of each peer), and the
gateway's ratio to each peer (median and min-max of the per-round ratios). The raw samples go to
var/bench/<UTC time>.json so that runs can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.bench import workloads as w
from tests.bench.calibrate import report_machine
from tests.bench.peers import GatewayPeer, Peer, StockPeer, VsftpdPeer
from tests.bench.volume import bench_volume
from tests.support.gateway import BIN


@dataclass(frozen=True)
class Plan:
    rounds: int
    large_mib: int
    small: tuple[tuple[int, int], ...]  # (concurrent clients, files per client)
    connections: int
    latency_uploads: int
    idle_sessions: int


FULL = Plan(
    rounds=5,
    large_mib=512,
    small=((1, 100), (4, 50), (16, 20)),
    connections=100,
    latency_uploads=20,
    idle_sessions=300,
)
QUICK = Plan(rounds=1, large_mib=1, small=((1, 3), (4, 2), (16, 2)), connections=3, latency_uploads=3, idle_sessions=5)

Results = dict[str, dict[str, list[w.Sample]]]  # workload -> peer -> one sample per round


Workload = tuple[str, bool, Callable[..., w.Sample]]  # name, gateway only, run(peer)


def _workloads(plan: Plan, client: w.Client, large: Path, small: Path) -> list[Workload]:
    items: list[Workload] = [
        (f"1 file of {plan.large_mib} MiB", False, lambda p: w.large_file(p, client, large)),
    ]
    for clients, files in plan.small:
        items.append(
            (
                f"{clients} x {files} files of 10 KiB",
                False,
                lambda p, c=clients, f=files: w.small_files(p, client, small, c, f),
            )
        )
    items += [
        (f"{plan.connections} new connections", False, lambda p: w.new_connections(p, client, small, plan.connections)),
        ("226 -> status code 2", True, lambda p: w.status_latency(p, client, small, plan.latency_uploads)),
        (f"{plan.idle_sessions} idle sessions", False, lambda p: w.idle_sessions(p, client, plan.idle_sessions)),
    ]
    return items


def run(plan: Plan, work: Path, after_round: Callable[[Results], None], only: str = "") -> Results:
    pki = work / "pki"
    subprocess.run([str(BIN / "gateway-pki"), "demo", "--dir", str(pki)], check=True, capture_output=True)
    large, small = work / "large.bin", work / "small.bin"
    with large.open("wb") as handle:
        for _ in range(plan.large_mib):
            handle.write(os.urandom(1 << 20))
    small.write_bytes(os.urandom(10 * 1024))
    client = w.Client(pki)
    peers: list[Peer] = [GatewayPeer(work, pki), StockPeer(work, pki), VsftpdPeer(work, pki)]
    results: Results = {}
    try:
        for peer in peers:
            peer.start()
        for round_no in range(plan.rounds):
            order = peers[round_no % len(peers) :] + peers[: round_no % len(peers)]
            for name, gateway_only, workload in _workloads(plan, client, large, small):
                if only not in name:
                    continue
                for peer in order:
                    if gateway_only and not isinstance(peer, GatewayPeer):
                        continue
                    peer.clear()
                    sample = workload(peer)
                    results.setdefault(name, {}).setdefault(peer.name, []).append(sample)
                    extra = "  ".join(f"{key} {value:.2f}" for key, value in sample.extra.items())
                    print(
                        f"round {round_no + 1}/{plan.rounds}  {name:<28} {peer.name:<8} "
                        f"wall {sample.wall:8.3f} s  cpu {sample.cpu:8.3f} s  ftp cpu {sample.ftp_cpu:8.3f} s  {extra}",
                        flush=True,
                    )
            after_round(results)  # a run cut short keeps its finished rounds
    finally:
        for peer in peers:
            peer.stop()
    return results


def _spread(values: list[float], unit: str = "", digits: int = 2) -> str:
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.{digits}f}{unit}"
    return f"{median:.{digits}f}{unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def summary(results: Results) -> dict[str, dict[str, dict[str, float]]]:
    """Per workload and metric: each peer's median/min/max and the gateway's per-round ratios."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for workload, by_peer in results.items():
        for metric in _metrics(by_peer):
            row: dict[str, float] = {}
            per_peer = {peer: [_value(s, metric) for s in samples] for peer, samples in by_peer.items()}
            for peer, values in per_peer.items():
                row |= {
                    f"{peer} median": statistics.median(values),
                    f"{peer} min": min(values),
                    f"{peer} max": max(values),
                }
            for peer, values in per_peer.items():
                if peer != "gateway" and all(values):
                    ratios = [g / o for g, o in zip(per_peer["gateway"], values, strict=True)]
                    row |= {
                        f"gateway/{peer} median": statistics.median(ratios),
                        f"gateway/{peer} min": min(ratios),
                        f"gateway/{peer} max": max(ratios),
                    }
            out.setdefault(workload, {})[metric] = row
    return out


# Metrics that every sample has, in seconds; the workloads' own figures follow them.
SECONDS = {"wall": "wall", "cpu": "cpu", "ftp server cpu": "ftp_cpu"}


def _metrics(by_peer: dict[str, list[w.Sample]]) -> list[str]:
    return [*SECONDS, *by_peer["gateway"][0].extra]


def _value(sample: w.Sample, metric: str) -> float:
    return float(getattr(sample, SECONDS[metric])) if metric in SECONDS else sample.extra[metric]


def table(results: Results) -> str:
    peers = ["gateway", "stock", "vsftpd"]
    header = ["workload", "metric", *peers, "gateway/stock", "gateway/vsftpd"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for workload, by_peer in results.items():
        for metric in _metrics(by_peer):
            unit = " s" if metric in SECONDS else ""
            cells = [workload, metric]
            values = {p: [_value(s, metric) for s in by_peer[p]] for p in peers if p in by_peer}
            cells += [_spread(values[p], unit) if p in values else "" for p in peers]
            for other in peers[1:]:
                if other in values and all(values[other]):
                    ratios = [g / o for g, o in zip(values["gateway"], values[other], strict=True)]
                    cells.append(_spread(ratios, "x"))
                else:
                    cells.append("")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round on tiny sizes (CI smoke)")
    parser.add_argument("--rounds", type=int, help="rounds instead of the plan's")
    parser.add_argument("--json", type=Path, help="where to write the samples (default var/bench/<time>.json)")
    parser.add_argument("--only", default="", help="run only the workloads whose name contains this, e.g. 'MiB'")
    args = parser.parse_args()
    # SIGTERM (and SIGINT, which a background job ignores) stop the peers on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = QUICK if args.quick else FULL
    if args.rounds:
        plan = Plan(**(asdict(plan) | {"rounds": args.rounds}))
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    begun = time.perf_counter()
    target = args.json or Path("var/bench") / f"{started:%Y%m%dT%H%M%SZ}.json"
    target.parent.mkdir(parents=True, exist_ok=True)

    with bench_volume("ftps-bench-") as (work, volume):
        machine = report_machine(work)

        def save(results: Results) -> None:
            report = {
                "volume": volume,
                "machine": machine,
                "started": started.isoformat(),
                "seconds": time.perf_counter() - begun,
                "plan": asdict(plan),
                "tls_max": w.TLS_MAX or "curl default",
                "cpus": os.cpu_count(),
                "loadavg_before": load_before,
                "loadavg_after": os.getloadavg(),
                "samples": {wl: {p: [asdict(s) for s in ss] for p, ss in bp.items()} for wl, bp in results.items()},
                "summary": summary(results),
            }
            target.write_text(json.dumps(report, indent=2))

        results = run(plan, work, save, args.only)
    print()
    print(table(results))
    print(f"\nsamples written to {target}")


if __name__ == "__main__":
    main()
