"""Search speed: a tenant's transactions in a time range, at 100,000 transactions.

    .venv/bin/python -m tests.bench.search [COUNT]

Builds a data directory the way the services leave it (one id reservation per transaction
holding its gateway_txid, one ledger history of two events) for one company with COUNT
transactions over 30 days, plus as many of other tenants, then times gateway_status.trace.search
for an hour, a day and the whole month, listing the first 1000 matches and listing all of them.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway_common.events import new_id, status_event
from gateway_common.proto.gateway.v1 import events_pb2, identity_pb2
from gateway_common.storage import StorageLayout
from gateway_status.search import search

DAYS = 30
SERVICES = ("tax-reports", "heartbeat", "payroll")


def populate(layout: StorageLayout, tenant: str, count: int, start: datetime) -> None:
    layout.ensure()
    span = DAYS * 86400
    sender = identity_pb2.Sender(kind=identity_pb2.CERTIFICATE_KIND_COMPANY, tenant=tenant)
    for i in range(count):
        gateway_txid = new_id()
        service = SERVICES[i % len(SERVICES)]
        upload = events_pb2.UploadReceived(
            gateway_txid=gateway_txid, sender=sender, service=service, ftp_txid=f"tx-{i}"
        )
        history = events_pb2.StatusHistory(
            events=[
                status_event(upload, events_pb2.STATUS_CODE_SENT, "router"),
                status_event(upload, events_pb2.STATUS_CODE_ACCEPTED, "adapter/http"),
            ]
        )
        ledger = layout.ledger_file(gateway_txid)
        ledger.parent.mkdir(exist_ok=True)  # 4096 shards: made as they are first used
        ledger.write_bytes(history.SerializeToString())
        reservation = layout.reservation(tenant, service, f"tx-{i}")
        reservation.parent.mkdir(parents=True, exist_ok=True)
        reservation.write_text(gateway_txid)
        when = start.timestamp() + span * i / count
        os.utime(reservation, (when, when))


def timed(layout: StorageLayout, tenant: str, since: datetime, until: datetime, limit: int) -> tuple[float, int]:
    started = time.perf_counter()
    found = search(layout, tenant, since, until, limit=limit)
    return time.perf_counter() - started, found.total


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory(prefix="search-bench-") as tmp:
        layout = StorageLayout(Path(tmp))
        began = time.perf_counter()
        populate(layout, "company/30808460", count, start)
        populate(layout, "company/12345678", count, start)  # another tenant's, never walked
        print(f"{2 * count} transactions written in {time.perf_counter() - began:.0f} s")
        ranges = {
            "one hour": (start + timedelta(days=10), start + timedelta(days=10, hours=1)),
            "one day": (start + timedelta(days=10), start + timedelta(days=11)),
            "30 days": (start, start + timedelta(days=DAYS)),
        }
        for limit in (1000, count):
            for label, (since, until) in ranges.items():
                runs = [timed(layout, "company/30808460", since, until, limit) for _ in range(3)]
                best = min(seconds for seconds, _ in runs)
                print(
                    f"search {label}, listing at most {limit}: {runs[0][1]} of {count} transactions match, "
                    f"best of 3 {best * 1000:.0f} ms"
                )


if __name__ == "__main__":
    main()
