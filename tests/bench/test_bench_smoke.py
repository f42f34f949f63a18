"""`make bench --quick` in `make test`: every peer and workload still runs, so the bench cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gateway_common.storage import StorageLayout

from tests.bench.growth import add_past
from tests.bench.peers import GATEWAY_TENANT
from tests.bench.procs import TICKS

pytestmark = pytest.mark.e2e


def _quick(module: str, target: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", module, "--quick", "--json", str(target)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=280, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def test_quick_bench_measures_every_workload_on_every_peer(tmp_path: Path) -> None:
    target = tmp_path / "bench.json"
    result = _quick("tests.bench.run", target)
    report = json.loads(target.read_text())
    assert report["volume"].startswith("ext4 with journal" if os.geteuid() == 0 else "temporary directory")
    assert report["machine"]["thread round trip us"] > 0
    samples = report["samples"]
    assert len(samples) == 7
    for workload, by_peer in samples.items():
        expected = {"gateway"} if workload.startswith("226") else {"gateway", "stock", "vsftpd"}
        assert set(by_peer) == expected, workload
        for peer, rounds in by_peer.items():
            assert len(rounds) == 1
            assert rounds[0]["wall"] > 0, (workload, peer)
            # The FTP server's own CPU: the ingress is part of the gateway (read a moment apart,
            # so within a clock tick); the others are all server.
            if peer == "gateway":
                assert 0 <= rounds[0]["ftp_cpu"] <= rounds[0]["cpu"] + 1 / TICKS, workload
            else:
                assert rounds[0]["ftp_cpu"] == rounds[0]["cpu"], (workload, peer)
    latency = samples["226 -> status code 2"]["gateway"][0]["extra"]
    assert 0 < latency["p50 ms"] <= latency["max ms"]
    assert "| 1 file of 1 MiB | wall |" in result.stdout
    assert "| 1 file of 1 MiB | ftp server cpu |" in result.stdout


def test_quick_growth_bench_measures_every_level(tmp_path: Path) -> None:
    target = tmp_path / "growth.json"
    _quick("tests.bench.growth", target)
    results = json.loads(target.read_text())["results"]
    assert set(results["concurrent clients"]) == {"1 clients", "4 clients"}
    assert set(results["files in /out"]) == {"0 files in /out", "10 files in /out"}
    assert set(results["past transactions"]) == {"0 past transactions", "10 past transactions"}
    assert all(value > 0 for rows in results.values() for row in rows.values() for value in row["ms/upload"])


def test_growth_bench_leaves_past_transactions_where_the_gateway_finds_them(tmp_path: Path) -> None:
    add_past(tmp_path, 3)
    layout = StorageLayout(tmp_path)
    ledgers = list(layout.ledger_dir.rglob("*.pb"))
    assert len(ledgers) == 3
    for ledger in ledgers:
        gateway_txid = ledger.stem
        assert layout.find_ledger(gateway_txid) == layout.ledger_file(gateway_txid)
        assert (layout.spool_txn(gateway_txid) / "payload").is_file()
    reservations = [path for path in (layout.txid_dir / GATEWAY_TENANT / "heartbeat").rglob("*") if path.is_file()]
    assert len(reservations) == 3
    for path in reservations:
        assert layout.find_reservation(GATEWAY_TENANT, "heartbeat", path.name) == layout.reservation(
            GATEWAY_TENANT, "heartbeat", path.name
        )
        assert layout.find_ledger(path.read_text()) is not None
