"""No folder the gateway writes grows with the number of transactions; data written before
sharding is still found."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from gateway_common.events import new_id, status_event
from gateway_common.proto.gateway.v1 import events_pb2, identity_pb2
from gateway_common.storage import StorageLayout
from gateway_ingress.recent import RecentUploads
from gateway_ingress.reservations import reserve, reserved
from gateway_status.ledger import Ledger, read_history

TRANSACTIONS = 100_000
TENANTS = 100
# "A few thousand": the largest folder may hold this many entries (the 4096 shards of an area).
MOST = 4096


def _largest_folders(root: Path) -> list[tuple[int, str]]:
    sizes = []
    for folder, dirs, files in os.walk(root):
        sizes.append((len(dirs) + len(files), os.path.relpath(folder, root)))
    return sorted(sizes, reverse=True)[:3]


def test_100000_transactions_leave_no_folder_with_more_than_a_few_thousand_entries(tmp_path: Path) -> None:
    layout = StorageLayout(tmp_path)
    layout.ensure()
    ledger = Ledger(layout.ledger_dir)
    recent = RecentUploads(300, layout.recent_dir)
    for n in range(TRANSACTIONS):
        # The paths the services write, from the functions they use (no fsync, for speed).
        gtxid = new_id()
        tenant = f"company/{10000000 + n % TENANTS}"
        txid = f"tx-{n}"
        folder = layout.spool_txn(gtxid)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "payload").write_bytes(b"")
        reserve(layout, tenant, "heartbeat", txid, "0" * 32)
        history = ledger.path(gtxid)
        history.parent.mkdir(exist_ok=True)
        history.write_bytes(b"")
        recent._store(f"{layout.tenant_root(tenant)}/heartbeat/{txid}", (0, 0.0, 0.0))
    recent._writer.shutdown()
    largest = _largest_folders(tmp_path)
    print(f"\nlargest folders after {TRANSACTIONS} transactions: {largest}")
    assert largest[0][0] <= MOST, largest


def _event(gtxid: str, code: int) -> events_pb2.StatusEvent:
    upload = events_pb2.UploadReceived(
        gateway_txid=gtxid, service="heartbeat", ftp_txid="t", sender=identity_pb2.Sender(tenant="company/1")
    )
    return status_event(upload, code, "test")  # type: ignore[arg-type]


def test_flat_data_from_before_sharding_is_read_and_moved_on_update(tmp_path: Path) -> None:
    layout = StorageLayout(tmp_path)
    layout.ensure()
    gtxid = uuid.uuid4().hex
    (layout.spool_dir / gtxid).mkdir()
    (layout.spool_dir / gtxid / "payload").write_bytes(b"old")
    assert layout.find_spool_txn(gtxid) == layout.spool_dir / gtxid

    ledger = Ledger(layout.ledger_dir)
    flat = layout.ledger_dir / f"{gtxid}.pb"
    sent = _event(gtxid, events_pb2.STATUS_CODE_SENT)
    flat.write_bytes(events_pb2.StatusHistory(events=[sent]).SerializeToString())
    assert layout.find_ledger(gtxid) == flat
    with ledger.locked(gtxid):
        history, new = ledger.history_with(_event(gtxid, events_pb2.STATUS_CODE_ACCEPTED))
        ledger.save(gtxid, history)
    assert new
    assert len(history) == 2
    assert not flat.exists()
    assert layout.find_ledger(gtxid) == ledger.path(gtxid)
    assert len(read_history(ledger.path(gtxid))) == 2

    service = layout.txid_dir / "company" / "1" / "heartbeat"
    service.mkdir(parents=True)
    (service / "used-before").touch()
    assert reserved(layout, "company/1", "heartbeat", "used-before")
    with pytest.raises(FileExistsError):
        reserve(layout, "company/1", "heartbeat", "used-before", "0" * 32)
    reserve(layout, "company/1", "heartbeat", "new-one", "0" * 32)
    with pytest.raises(FileExistsError):
        reserve(layout, "company/1", "heartbeat", "new-one", "0" * 32)


def test_an_id_named_like_a_shard_folder_is_no_reservation(tmp_path: Path) -> None:
    # Flat reservations (from before sharding) sit beside the shard folders: an id of three hex
    # digits names one of those folders once any other id was reserved into it.
    layout = StorageLayout(tmp_path)
    layout.ensure()
    reserve(layout, "company/1", "heartbeat", "tx-1", "0" * 32)
    shard = layout.reservation("company/1", "heartbeat", "tx-1").parent.name  # a client may upload "0a3"
    assert not reserved(layout, "company/1", "heartbeat", shard)
    assert layout.find_reservation("company/1", "heartbeat", shard) is None
    reserve(layout, "company/1", "heartbeat", shard, "1" * 32)
    assert reserved(layout, "company/1", "heartbeat", shard)
    with pytest.raises(FileExistsError):
        reserve(layout, "company/1", "heartbeat", shard, "2" * 32)
