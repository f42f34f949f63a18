"""Reservations that make a FTPTransactionID unique per tenant and service, across replicas.

A reservation is a file created with O_EXCL on the shared storage: of two replicas taking the
same id at once, exactly one succeeds. It holds the gateway transaction id, so that gateway-trace
finds a transaction by tenant, service and FTPTransactionID. Reservations live in hash-prefix
shards; those written before sharding (directly in the service's folder) still count. The status
service's sweep releases them after the uniqueness window.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway_common.storage import StorageLayout


def reserved(layout: StorageLayout, tenant: str, service: str, ftp_txid: str) -> bool:
    return layout.find_reservation(tenant, service, ftp_txid) is not None


def reserve(layout: StorageLayout, tenant: str, service: str, ftp_txid: str, gateway_txid: str) -> Path:
    """Take ``ftp_txid`` for the upload ``gateway_txid``; FileExistsError when it was taken before."""
    # Only the flat path needs a look first: at the sharded one, the O_EXCL create is the check.
    if layout.flat_reservation(tenant, service, ftp_txid).is_file():
        raise FileExistsError(ftp_txid)
    path = layout.reservation(tenant, service, ftp_txid)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    except FileNotFoundError:  # the first id of its shard
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        os.write(fd, gateway_txid.encode())
    except OSError:
        path.unlink(missing_ok=True)  # a full disk must not use up the id
        raise
    finally:
        os.close(fd)
    return path
