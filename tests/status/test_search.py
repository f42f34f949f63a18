"""Search: a tenant's transactions in a time range with their current code, from the storage alone."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from gateway_common.storage import StorageLayout
from gateway_status.search import search
from gateway_status.trace import NotFound

from tests.bench.search import DAYS, SERVICES, populate

START = datetime(2026, 11, 1, tzinfo=UTC)
COUNT = 300  # one transaction every 2.4 hours over 30 days


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> StorageLayout:
    layout = StorageLayout(Path(tmp_path_factory.mktemp("search")))
    populate(layout, "company/30808460", COUNT, START)
    populate(layout, "company/12345678", COUNT, START)
    return layout


def test_range_is_half_open_and_ordered_with_current_codes(layout: StorageLayout) -> None:
    step = timedelta(days=DAYS) / COUNT
    found = search(layout, "company/30808460", START + 10 * step, START + 20 * step)
    assert found.total == 10
    assert [row.ftp_txid for row in found.rows] == [f"tx-{i}" for i in range(10, 20)]
    assert [row.service for row in found.rows] == [SERVICES[i % len(SERVICES)] for i in range(10, 20)]
    assert {row.current_code for row in found.rows} == {2}
    assert all(len(row.gateway_txid) == 32 for row in found.rows)


def test_limit_keeps_the_total_and_service_filters(layout: StorageLayout) -> None:
    everything = search(layout, "company/30808460", START, START + timedelta(days=DAYS), limit=7)
    assert (everything.total, len(everything.rows)) == (COUNT, 7)
    only = search(layout, "company/30808460", START, START + timedelta(days=DAYS), service="payroll")
    assert only.total == COUNT // len(SERVICES)
    assert {row.service for row in only.rows} == {"payroll"}


def test_other_tenants_and_escapes_are_never_walked(layout: StorageLayout) -> None:
    mine = search(layout, "company/30808460", START, START + timedelta(days=DAYS))
    theirs = search(layout, "company/12345678", START, START + timedelta(days=DAYS))
    assert not {r.gateway_txid for r in mine.rows} & {r.gateway_txid for r in theirs.rows}
    assert search(layout, "company/99999999", START, START + timedelta(days=DAYS)).total == 0
    with pytest.raises(NotFound):
        search(layout, "company/../..", START, START + timedelta(days=1))
    with pytest.raises(NotFound):
        search(layout, "company/30808460", START, START + timedelta(days=1), service="..")


def test_reservations_in_hash_prefix_shards_are_found(tmp_path: Path) -> None:
    layout = StorageLayout(tmp_path)
    shard = layout.txid_dir / "company/30808460" / "heartbeat" / "a1f"
    shard.mkdir(parents=True)
    (shard / "sharded-tx").write_text("0" * 32)
    when = (START + timedelta(hours=1)).timestamp()
    os.utime(shard / "sharded-tx", (when, when))
    found = search(layout, "company/30808460", START, START + timedelta(days=1))
    assert [(row.ftp_txid, row.gateway_txid, row.current_code) for row in found.rows] == [
        ("sharded-tx", "0" * 32, None)
    ]


def test_symlinked_service_folders_and_shards_lead_nowhere(tmp_path: Path) -> None:
    """A link planted in a tenant's reservations must not list another tenant's transactions."""
    layout = StorageLayout(tmp_path)
    populate(layout, "company/12345678", 3, START)
    theirs = layout.txid_dir / "company/12345678" / SERVICES[0]
    mine = layout.txid_dir / "company/30808460"
    mine.mkdir(parents=True)
    (mine / "linked-service").symlink_to(theirs, target_is_directory=True)
    (mine / "payroll").mkdir()
    (mine / "payroll" / "abc").symlink_to(theirs, target_is_directory=True)
    everything = (START, START + timedelta(days=DAYS))
    assert search(layout, "company/30808460", *everything).total == 0
    assert search(layout, "company/30808460", *everything, service="linked-service").total == 0
    assert search(layout, "company/12345678", *everything).total == 3


def test_json_answer_names_times_in_iso_and_keeps_the_total(tmp_path: Path) -> None:
    layout = StorageLayout(tmp_path)
    populate(layout, "company/30808460", 2, START)
    found = search(layout, "company/30808460", START, START + timedelta(days=DAYS), limit=1).as_json()
    assert found["total"] == 2
    [row] = found["transactions"]
    assert row["received_at"] == START.isoformat()
    assert (row["ftp_txid"], row["service"], row["current_code"]) == ("tx-0", SERVICES[0], 2)
