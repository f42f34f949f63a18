"""Where Idempotency-Key records and their locks lie, sharded or written before sharding."""

from __future__ import annotations

import hashlib
from pathlib import Path

from gateway_common.storage import lock_file, shard_of
from gateway_status.idempotency import find_record, key_record, locked, record_lock

KEY = "order-4711"
DIGEST = hashlib.sha256(KEY.encode()).hexdigest()


def test_a_record_is_named_by_the_keys_hash_in_its_backends_shard(tmp_path: Path) -> None:
    record = key_record(tmp_path, "tax-agency", KEY)
    assert record == tmp_path / "tax-agency" / shard_of(DIGEST) / f"{DIGEST}.json"
    assert key_record(tmp_path, "other-backend", KEY).parent.parent.name == "other-backend"
    assert key_record(tmp_path, "tax-agency", KEY + " ") != record


def test_the_lock_is_in_the_shard_for_sharded_and_old_flat_records_alike(tmp_path: Path) -> None:
    sharded = key_record(tmp_path, "tax-agency", KEY)
    flat = tmp_path / "tax-agency" / f"{DIGEST}.json"
    expected = sharded.with_suffix(".lock")
    assert record_lock(sharded) == expected
    assert record_lock(flat) == expected
    assert record_lock(expected) == expected  # the sweep finds the lock from a lock file


def test_find_record_prefers_the_shard_then_the_flat_record_then_none(tmp_path: Path) -> None:
    sharded = key_record(tmp_path, "tax-agency", KEY)
    flat = tmp_path / "tax-agency" / f"{DIGEST}.json"
    lock = sharded.with_suffix(".lock")
    assert find_record(lock) is None
    flat.parent.mkdir(parents=True)
    flat.write_text("{}")
    assert find_record(lock) == flat
    assert find_record(flat) == flat
    sharded.parent.mkdir(parents=True)
    sharded.write_text("{}")
    assert find_record(lock) == sharded
    assert find_record(flat) == sharded


def test_locked_holds_the_shards_lock_file_against_another_holder(tmp_path: Path) -> None:
    flat = tmp_path / "tax-agency" / f"{DIGEST}.json"
    lock = record_lock(flat)
    with locked(flat):
        assert lock.is_file()
        with lock_file(lock, blocking=False) as got:
            assert got is False
    with lock_file(lock, blocking=False) as got:
        assert got is True
