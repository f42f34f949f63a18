"""reservations.py: a FTPTransactionID is taken once per tenant and service, by O_EXCL on the storage."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from gateway_common.storage import StorageLayout, shard_of
from gateway_ingress.reservations import reserve, reserved

from tests.support.tmpfs import small_tmpfs

TENANT = "company/30808460"


@pytest.fixture
def layout(tmp_path: Path) -> StorageLayout:
    layout = StorageLayout(tmp_path / "data")
    layout.ensure()
    return layout


def test_a_reservation_holds_the_gateway_id_in_its_shard(layout: StorageLayout) -> None:
    assert not reserved(layout, TENANT, "heartbeat", "tx-1")
    path = reserve(layout, TENANT, "heartbeat", "tx-1", "a" * 32)
    assert path == layout.txid_dir / TENANT / "heartbeat" / shard_of("tx-1") / "tx-1"
    assert path.read_text() == "a" * 32
    assert reserved(layout, TENANT, "heartbeat", "tx-1")


def test_an_id_is_taken_once_and_free_again_once_released(layout: StorageLayout) -> None:
    path = reserve(layout, TENANT, "heartbeat", "tx-1", "a" * 32)
    with pytest.raises(FileExistsError):
        reserve(layout, TENANT, "heartbeat", "tx-1", "b" * 32)
    assert path.read_text() == "a" * 32  # the first upload keeps it
    path.unlink()  # the sweep, or a discarded upload
    assert reserve(layout, TENANT, "heartbeat", "tx-1", "c" * 32).read_text() == "c" * 32


def test_ids_are_unique_per_tenant_and_per_service_only(layout: StorageLayout) -> None:
    reserve(layout, TENANT, "heartbeat", "tx-1", "a" * 32)
    reserve(layout, TENANT, "tax-reports", "tx-1", "b" * 32)
    reserve(layout, "company/12345678", "heartbeat", "tx-1", "c" * 32)
    reserve(layout, "personal/9208-2002-2-1", "heartbeat", "tx-1", "d" * 32)
    assert not reserved(layout, TENANT, "small-files", "tx-1")


def test_a_reservation_written_before_sharding_still_counts(layout: StorageLayout) -> None:
    flat = layout.txid_dir / TENANT / "heartbeat" / "old-tx"
    flat.parent.mkdir(parents=True)
    flat.write_text("e" * 32)
    assert reserved(layout, TENANT, "heartbeat", "old-tx")
    with pytest.raises(FileExistsError):
        reserve(layout, TENANT, "heartbeat", "old-tx", "f" * 32)


def test_of_many_racing_for_one_id_exactly_one_wins(layout: StorageLayout) -> None:
    ids = [f"contested-{n}" for n in range(100)]
    winners: dict[str, list[str]] = {txid: [] for txid in ids}
    start = threading.Barrier(8)

    def race(n: int) -> None:
        start.wait()
        for txid in ids:
            try:
                reserve(layout, TENANT, "heartbeat", txid, f"{n:032d}")
            except FileExistsError:
                continue
            winners[txid].append(f"{n:032d}")

    # Switch threads as often as possible, so racers meet between the lookup and the create.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    for txid in ids:
        assert len(winners[txid]) == 1, (txid, winners[txid])
        assert layout.find_reservation(TENANT, "heartbeat", txid).read_text() == winners[txid][0]  # type: ignore[union-attr]


def test_a_full_disk_does_not_use_up_the_id(tmp_path: Path) -> None:
    data = tmp_path / "full"
    data.mkdir()
    with small_tmpfs(data, 64 * 1024):
        layout = StorageLayout(data)
        layout.ensure()
        shard = layout.reservation(TENANT, "heartbeat", "tx-full").parent
        shard.mkdir(parents=True)
        (data / "filler").write_bytes(b"\0" * (64 * 1024))  # the rest of the space; inodes remain
        with pytest.raises(OSError, match="No space left"):
            reserve(layout, TENANT, "heartbeat", "tx-full", "a" * 32)
        assert not reserved(layout, TENANT, "heartbeat", "tx-full")
