"""Reservations that make a FTPTransactionID unique per tenant and service, across replicas.

A reservation is a file created with O_EXCL on the shared storage: of two replicas taking the
same id at once, exactly one succeeds. Reservations live in hash-prefix shards; those written
before sharding (directly in the service's folder) still count. The status service's sweep
releases them after the uniqueness window.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway_common.storage import StorageLayout, in_shard


def _folder(layout: StorageLayout, tenant: str, service: str) -> Path:
    return layout.txid_dir / tenant / service


def reserved(layout: StorageLayout, tenant: str, service: str, ftp_txid: str) -> bool:
    folder = _folder(layout, tenant, service)
    return in_shard(folder, ftp_txid, ftp_txid).exists() or (folder / ftp_txid).exists()


def reserve(layout: StorageLayout, tenant: str, service: str, ftp_txid: str) -> Path:
    """Take ``ftp_txid`` for this upload; FileExistsError when it was taken before."""
    folder = _folder(layout, tenant, service)
    if (folder / ftp_txid).exists():
        raise FileExistsError(ftp_txid)
    path = in_shard(folder, ftp_txid, ftp_txid)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
    return path
