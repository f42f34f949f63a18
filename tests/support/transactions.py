"""A transaction as the services leave it in storage: the ingress's id reservation and the status ledger."""

from __future__ import annotations

import os
from datetime import datetime

from gateway_common.events import status_event
from gateway_common.proto.gateway.v1 import events_pb2, identity_pb2
from gateway_common.storage import StorageLayout


def stored_transaction(
    layout: StorageLayout, tenant: str, gateway_txid: str, ftp_txid: str, received: datetime
) -> None:
    """Codes 1 then 2 (backend id BK-1) for ``tax-reports``; the reservation's mtime is ``received``."""
    sender = identity_pb2.Sender(kind=identity_pb2.CERTIFICATE_KIND_COMPANY, tenant=tenant)
    upload = events_pb2.UploadReceived(
        gateway_txid=gateway_txid, sender=sender, service="tax-reports", ftp_txid=ftp_txid, file_name="r.xml"
    )
    history = events_pb2.StatusHistory(
        events=[
            status_event(upload, events_pb2.STATUS_CODE_SENT, "router"),
            status_event(upload, events_pb2.STATUS_CODE_ACCEPTED, "adapter/http", backend_txid="BK-1"),
        ]
    )
    ledger = layout.ledger_file(gateway_txid)
    ledger.parent.mkdir(parents=True, exist_ok=True)
    ledger.write_bytes(history.SerializeToString())
    reservation = layout.reservation(tenant, "tax-reports", ftp_txid)
    reservation.parent.mkdir(parents=True, exist_ok=True)
    reservation.write_text(gateway_txid)
    os.utime(reservation, (received.timestamp(), received.timestamp()))
