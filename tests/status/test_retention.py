"""The storage sweep: every kind of stored data has a lifetime, nothing still needed goes, and
replicas sweeping at once remove each item once."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from gateway_common.events import status_event, timestamp
from gateway_common.proto.gateway.v1 import events_pb2, identity_pb2
from gateway_common.storage import StorageLayout, in_shard
from gateway_status.idempotency import key_record, record_lock
from gateway_status.ledger import Ledger
from gateway_status.retention import DAY, Lifetimes, sweep

NOW = time.time()
LIFETIMES = Lifetimes(
    out=30 * DAY, payload=7 * DAY, ledger=90 * DAY, txid=90 * DAY, idempotency=60 * DAY, audit=400 * DAY, temp=DAY
)


def _age(path: Path, days: float) -> Path:
    when = NOW - days * DAY
    os.utime(path, (when, when), follow_symlinks=False)
    return path


def _file(path: Path, age_days: float, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return _age(path, age_days)


def _layout(tmp_path: Path) -> StorageLayout:
    layout = StorageLayout(tmp_path)
    layout.ensure()
    return layout


def _transaction(layout: StorageLayout, *codes_and_ages: tuple[int, float], payload_age: float = 30) -> str:
    """A spooled payload (and a response) whose ledger holds ``codes_and_ages`` (status code, days ago)."""
    gtxid = uuid.uuid4().hex
    folder = layout.spool_txn(gtxid)
    _file(folder / "responses" / "answer.xml", payload_age)
    _file(folder / "payload", payload_age, b"p" * 100)
    upload = events_pb2.UploadReceived(
        gateway_txid=gtxid, service="heartbeat", ftp_txid=gtxid, sender=identity_pb2.Sender(tenant="company/1")
    )
    ledger = Ledger(layout.ledger_dir)
    for code, days in codes_and_ages:
        event = status_event(upload, code, "test")  # type: ignore[arg-type]
        event.occurred_at.CopyFrom(timestamp(datetime.fromtimestamp(NOW - days * DAY, UTC)))
        with ledger.locked(gtxid):
            ledger.save(gtxid, ledger.history_with(event)[0])
    return gtxid


SENT, ACCEPTED, ERROR = events_pb2.STATUS_CODE_SENT, events_pb2.STATUS_CODE_ACCEPTED, events_pb2.STATUS_CODE_ERROR


def test_sweep_removes_old_out_files_only(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    company = layout.out_dir("company/30808460")
    personal = layout.out_dir("personal/9208-2002-2-123456789012")
    old_status = _file(company / "status_heartbeat_a.xml", 31)
    old_response = _file(personal / "response.xml", 45)
    fresh = _file(company / "status_heartbeat_b.xml", 29)
    nested = _file(company / "folder" / "old.xml", 60)
    login_folder = _file(layout.tenant_root("company/30808460") / "RID-1" / "heartbeat" / "old", 60)
    outside = _file(tmp_path / "elsewhere" / "target.xml", 60)
    (company / "link.xml").symlink_to(outside)

    result = sweep(layout, LIFETIMES, NOW)
    assert result.removed["out"] == 2
    assert not old_status.exists()
    assert not old_response.exists()
    for kept in (fresh, nested, login_folder, outside, company / "link.xml"):
        assert kept.exists() or kept.is_symlink(), kept
    assert result.usage["out"].entries == 1  # fresh; folders and links are not the sweep's


def test_payload_goes_only_after_its_final_status_and_the_replay_window(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    accepted_long_ago = _transaction(layout, (SENT, 20), (ACCEPTED, 20))
    error_long_ago = _transaction(layout, (SENT, 9), (ERROR, 8))
    accepted_recently = _transaction(layout, (SENT, 20), (ERROR, 19), (ACCEPTED, 2))  # replayed
    still_delivering = _transaction(layout, (SENT, 20))  # retried or parked after routing
    never_routed = _transaction(layout)  # parked before the router saw it

    result = sweep(layout, LIFETIMES, NOW)

    assert result.removed["spool"] == 2
    for gone in (accepted_long_ago, error_long_ago):
        assert not layout.find_spool_txn(gone).exists()
    for kept in (accepted_recently, still_delivering, never_routed):
        assert (layout.find_spool_txn(kept) / "payload").exists(), kept
        assert (layout.find_spool_txn(kept) / "responses" / "answer.xml").exists()
    assert result.usage["spool"].entries == 6
    assert result.usage["spool"].bytes == 3 * 101
    # The histories stay: the ledger outlives the payloads.
    assert layout.find_ledger(accepted_long_ago) is not None


def test_uploads_cut_off_by_a_crash_are_removed_after_a_day(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    old = layout.spool_txn(uuid.uuid4().hex)
    _file(old / ".tmp-payload", 2)
    _age(old, 2)
    young = layout.spool_txn(uuid.uuid4().hex)
    _file(young / ".tmp-payload", 0.5)
    _age(young, 0.5)

    result = sweep(layout, LIFETIMES, NOW)

    assert not old.exists()
    assert (young / ".tmp-payload").exists()
    assert result.removed["temp"] == 1
    assert result.removed["spool"] == 0


def test_ledger_goes_after_its_lifetime_once_the_payload_is_gone(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    expired = _transaction(layout, (SENT, 100), (ACCEPTED, 100), payload_age=100)
    with_payload = _transaction(layout, (SENT, 100), payload_age=100)  # never final: payload kept
    recent = _transaction(layout, (SENT, 20), (ACCEPTED, 20))
    for gtxid in (expired, with_payload, recent):
        ledger = layout.find_ledger(gtxid)
        assert ledger is not None
        _age(ledger, 100 if gtxid != recent else 20)
    flat = uuid.uuid4().hex  # written before sharding
    _file(layout.ledger_dir / f"{flat}.pb", 100)

    result = sweep(layout, LIFETIMES, NOW)  # payload of `expired` goes first, then its history
    assert result.removed["spool"] == 2
    assert result.removed["ledger"] == 2  # `expired` (payload gone in this very sweep) and the flat one
    assert layout.find_ledger(expired) is None
    assert not in_shard(layout.ledger_dir, expired, f"{expired}.lock").exists()
    assert layout.find_ledger(flat) is None
    assert layout.find_ledger(with_payload) is not None
    assert layout.find_ledger(recent) is not None


def test_a_history_being_written_is_not_removed(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    gtxid = _transaction(layout, (SENT, 100), (ACCEPTED, 100), payload_age=100)
    ledger = layout.find_ledger(gtxid)
    assert ledger is not None
    _age(ledger, 100)
    lock = in_shard(layout.ledger_dir, gtxid, f"{gtxid}.lock")
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # the status writer is updating it
        assert sweep(layout, LIFETIMES, NOW).removed["ledger"] == 0
    assert ledger.exists()
    assert sweep(layout, LIFETIMES, NOW).removed["ledger"] == 1


def test_reservations_records_audit_logs_and_temporaries_expire(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    service = layout.txid_dir / "company" / "1" / "heartbeat"
    old_txid = _file(in_shard(service, "old", "old"), 91)
    young_txid = _file(in_shard(service, "young", "young"), 89)
    flat_txid = _file(service / "flat", 91)
    old_audit = _file(layout.audit_dir / "out-deletes-2025-01-01.jsonl", 401)
    flat_audit = _file(layout.audit_dir / "out-deletes.jsonl", 401)
    today = _file(layout.audit_file, 0)
    out = layout.out_dir("company/1")
    temps = [
        _file(out / ".tmp-outbound.1234", 2),
        _file(in_shard(layout.ledger_dir, "a" * 32, ".tmp-x.pb.1234"), 2),
        _file(layout.outbox_dir / ".tmp-e.pb.1234", 2),
    ]
    young_temp = _file(out / ".tmp-outbound.5678", 0.5)
    old_recent = _file(layout.recent_dir / "abc" / "abc123", 2)

    result = sweep(layout, LIFETIMES, NOW)

    for gone in (old_txid, flat_txid, old_audit, flat_audit, *temps, old_recent):
        assert not gone.exists(), gone
    for kept in (young_txid, today, young_temp):
        assert kept.exists(), kept
    assert result.removed == {"txids": 2, "audit": 2, "temp": 3, "recent": 1}


def _record(layout: StorageLayout, api: str, key: str, age_days: float, flat: bool = False) -> Path:
    """An Idempotency-Key record of a backend API (outbound, responses) with its lock, as the API leaves it."""
    record = key_record(layout.data_dir / api, "demo", key)
    if flat:  # written before sharding
        record = record.parent.parent / record.name
    _file(record_lock(record), age_days, b"")
    return _file(record, age_days, b"{}")


def test_idempotency_records_of_both_apis_expire_after_their_window(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    old = [_record(layout, api, f"old-{api}", 61) for api in ("outbound", "responses")]
    old_flat = [_record(layout, api, f"flat-{api}", 61, flat=True) for api in ("outbound", "responses")]
    fresh = [_record(layout, api, f"fresh-{api}", 59) for api in ("outbound", "responses")]
    fresh_flat = [_record(layout, api, f"fresh-flat-{api}", 59, flat=True) for api in ("outbound", "responses")]
    orphan_lock = _file(record_lock(key_record(layout.data_dir / "responses", "demo", "died")), 2, b"")
    flat_locks = [_file(record.with_suffix(".lock"), 61, b"") for record in old_flat]  # taken before sharding

    result = sweep(layout, LIFETIMES, NOW)

    for gone in (*old, *old_flat):
        assert not gone.exists(), gone
        assert not record_lock(gone).exists(), gone
    for lock in (orphan_lock, *flat_locks):
        assert not lock.exists(), lock
    for kept in (*fresh, *fresh_flat):
        assert kept.exists(), kept
        assert record_lock(kept).exists(), kept
    assert result.removed == {"outbound": 2, "responses": 2}
    assert (result.usage["outbound"].entries, result.usage["responses"].entries) == (2, 2)
    assert sweep(layout, LIFETIMES, NOW).removed == {}


def test_a_record_whose_key_is_being_replayed_is_not_removed(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    record = _record(layout, "responses", "busy", 61)
    with record_lock(record).open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # the API is answering a retry under this key
        assert sweep(layout, LIFETIMES, NOW).removed == {}
    assert record.exists()
    assert sweep(layout, LIFETIMES, NOW).removed == {"responses": 1}


def _sweep_in_process(data_dir: str, counts: multiprocessing.Queue[int]) -> None:
    counts.put(sum(sweep(StorageLayout(Path(data_dir)), LIFETIMES, NOW).removed.values()))


def test_replicas_sweeping_at_once_remove_each_item_once(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    service = layout.txid_dir / "company" / "1" / "heartbeat"
    items = 0
    for n in range(300):
        _transaction(layout, (ACCEPTED, 20))  # payload goes (ledger stays: young)
        _file(in_shard(service, f"t{n}", f"t{n}"), 100)
        _file(layout.out_dir("company/1") / f"status_{n}.xml", 40)
        _record(layout, ("outbound", "responses")[n % 2], f"k{n}", 61, flat=n % 3 == 0)
        items += 4
    context = multiprocessing.get_context("fork")
    counts: multiprocessing.Queue[int] = context.Queue()
    replicas = [context.Process(target=_sweep_in_process, args=(str(tmp_path), counts)) for _ in range(3)]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join(120)
    assert sum(counts.get(timeout=5) for _ in replicas) == items
    assert sum(sweep(layout, LIFETIMES, NOW).removed.values()) == 0
    assert not any(p.name == "payload" for p in layout.spool_dir.rglob("*"))


def test_a_folder_another_replica_is_deleting_is_not_counted_again(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    gtxid = _transaction(layout, (ACCEPTED, 20))
    folder = layout.spool_txn(gtxid)
    # What the winning replica leaves while it deletes: its renamed folder, with the old mtime.
    doomed = folder.with_name(f".tmp-swept-{int(time.time())}-{gtxid}-abcd")
    folder.rename(doomed)
    _age(doomed, 400)
    assert sum(sweep(layout, LIFETIMES, NOW).removed.values()) == 0
    assert doomed.exists()
    # One the winner never finished (it crashed) goes after the temp lifetime.
    crashed = folder.with_name(f".tmp-swept-{int(NOW - 2 * DAY)}-{gtxid}-abcd")
    doomed.rename(crashed)
    _age(crashed, 400)
    assert sweep(layout, LIFETIMES, NOW).removed == {"temp": 1}
    assert not crashed.exists()
