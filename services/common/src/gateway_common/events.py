"""Building the bus messages. Event ids of status events are deterministic, so that a step
that is redone after a crash produces the same event and the status history stays clean."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from gateway_common.proto.gateway.v1 import events_pb2

StatusCode = events_pb2.StatusCode

# Status code as the client sees it in the XML (the client guide and the old gateway's docs).
XML_CODE: dict[int, int] = {
    events_pb2.STATUS_CODE_ERROR: 0,
    events_pb2.STATUS_CODE_SENT: 1,
    events_pb2.STATUS_CODE_ACCEPTED: 2,
    events_pb2.STATUS_CODE_RESPONSE: 3,
}
# Codes 0-2: the client guide's sentences word for word (scripts match them); code 3 is ours.
STATUS_TEXT: dict[int, str] = {
    events_pb2.STATUS_CODE_ERROR: "An error has occurred.",
    events_pb2.STATUS_CODE_SENT: "File has been sent to requested Backend System / Business Service.",
    events_pb2.STATUS_CODE_ACCEPTED: "Requested Backend System / Business Service has successfully accepted the file.",
    events_pb2.STATUS_CODE_RESPONSE: (
        "Requested Backend System / Business Service has sent a response; it is in /out."
    ),
}
_SLUG: dict[int, str] = {
    events_pb2.STATUS_CODE_ERROR: "error",
    events_pb2.STATUS_CODE_SENT: "sent",
    events_pb2.STATUS_CODE_ACCEPTED: "accepted",
    events_pb2.STATUS_CODE_RESPONSE: "response",
}


# What new_id() makes: 32 lowercase hex digits. Messages carrying another form are not ours.
GATEWAY_TXID = re.compile(r"[0-9a-f]{32}")


def new_id() -> str:
    return uuid.uuid4().hex


def timestamp(when: datetime | None = None) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when or datetime.now(UTC))
    return ts


def status_event(
    upload: events_pb2.UploadReceived,
    code: events_pb2.StatusCode.ValueType,
    source: str,
    *,
    message: str = "",
    error: events_pb2.StatusError | None = None,
    backend_txid: str = "",
    response_file: str = "",
) -> events_pb2.StatusEvent:
    # One event per (transaction, outcome, response file): redoing a step cannot add history.
    suffix = f"/{response_file}" if response_file else ""
    return events_pb2.StatusEvent(
        event_id=f"{upload.gateway_txid}/{_SLUG[code]}{suffix}",
        gateway_txid=upload.gateway_txid,
        sender=upload.sender,
        service=upload.service,
        ftp_txid=upload.ftp_txid,
        file_name=upload.file_name,
        code=code,
        occurred_at=timestamp(),
        received_at=upload.received_at,
        source=source,
        message=message or (error.message if error is not None else "") or STATUS_TEXT[code],
        error=error,
        backend_txid=backend_txid,
        response_file=response_file,
        size=upload.size,
        sha256=upload.sha256,
    )


def sent_before(accepted: events_pb2.StatusEvent) -> events_pb2.StatusEvent:
    """The "sent" event that ``accepted`` implies (the id of a published "sent", a moment earlier).

    Adapters publish "accepted" alone and the status service records this with it; a "sent"
    still published (an adapter from before, a message in flight across an upgrade) is then a
    duplicate, also when it arrives after "accepted".
    """
    sent = events_pb2.StatusEvent()
    sent.CopyFrom(accepted)
    sent.code = events_pb2.STATUS_CODE_SENT
    sent.event_id = f"{accepted.gateway_txid}/{_SLUG[events_pb2.STATUS_CODE_SENT]}"
    sent.message = STATUS_TEXT[events_pb2.STATUS_CODE_SENT]
    sent.occurred_at.FromNanoseconds(accepted.occurred_at.ToNanoseconds() - 1000)
    sent.ClearField("error")
    sent.response_file = ""
    return sent


def upload_from_status(event: events_pb2.StatusEvent, **fields: Any) -> events_pb2.UploadReceived:
    """The upload a status event belongs to: every status event carries its sender, names, size and hash.

    ``fields`` adds what only the caller knows (a new event id, the spool path, the replica).
    """
    return events_pb2.UploadReceived(
        gateway_txid=event.gateway_txid,
        sender=event.sender,
        service=event.service,
        ftp_txid=event.ftp_txid,
        file_name=event.file_name,
        received_at=event.received_at,
        size=event.size,
        sha256=event.sha256,
        **fields,
    )
