"""Idempotency-Key records of the backends' APIs: what a backend did under each key.

    <data_dir>/<api>/<backend>/<shard>/<sha256 of the key>.json   the record (api: outbound, responses)
    <data_dir>/<api>/<backend>/<shard>/<sha256 of the key>.lock   held while the record changes

Records written before sharding lie directly in ``<api>/<backend>/`` and are still read; their
writers and the sweep lock the sharded lock file for them too. The sweep (retention.py) removes a
record once it is older than the idempotency window (GATEWAY_IDEMPOTENCY_DAYS): a retry with the
same key after that is a new call.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

from gateway_common.storage import find_sharded, in_shard, lock_file, shard_of


def key_record(records: Path, backend: str, key: str) -> Path:
    """Where what a backend did under one Idempotency-Key is written (sharded by the key's hash)."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    return in_shard(records / backend, digest, f"{digest}.json")


def _backend_dir(path: Path) -> Path:
    """The backend's folder of a record or lock file, sharded or written before sharding."""
    return path.parent.parent if path.parent.name == shard_of(path.stem) else path.parent


def record_lock(path: Path) -> Path:
    """The lock of a record (or of a lock file's record): always the one in its shard."""
    return in_shard(_backend_dir(path), path.stem, f"{path.stem}.lock")


def find_record(path: Path) -> Path | None:
    """The record of a record or lock file: in its shard or, written before sharding, beside them."""
    return find_sharded(_backend_dir(path), path.stem, f"{path.stem}.json")


@contextlib.contextmanager
def locked(record: Path) -> Iterator[None]:
    """Hold a key's lock (across replicas on shared storage) while its record changes."""
    lock = record_lock(record)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock_file(lock):
        yield
