"""The status XML itself: which event's fields it shows, what it keeps from history, what it cleans."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from gateway_common.events import STATUS_TEXT, status_event
from gateway_common.proto.gateway.v1 import events_pb2, identity_pb2
from gateway_status.xml import format_timestamp, render_status
from google.protobuf.timestamp_pb2 import Timestamp

UPLOAD = events_pb2.UploadReceived(
    gateway_txid="a" * 32,
    sender=identity_pb2.Sender(kind=identity_pb2.CERTIFICATE_KIND_COMPANY, tenant="company/30808460"),
    service="tax-reports",
    ftp_txid="tx-1",
    file_name="report.xml",
    size=42,
    sha256="b" * 64,
)


def _at(event: events_pb2.StatusEvent, when: datetime) -> events_pb2.StatusEvent:
    event.occurred_at.FromDatetime(when)
    return event


def _parse(body: bytes) -> ET.Element:
    return ET.fromstring(body)


def test_timestamp_is_utc_in_the_original_gateways_format() -> None:
    ts = Timestamp()
    ts.FromDatetime(datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC))
    assert format_timestamp(ts) == "20260304050607"


def test_current_event_fields_backend_id_from_history_and_no_error_when_not_an_error() -> None:
    sent = _at(status_event(UPLOAD, events_pb2.STATUS_CODE_SENT, "router"), datetime(2026, 1, 1, 10, tzinfo=UTC))
    accepted = _at(
        status_event(UPLOAD, events_pb2.STATUS_CODE_ACCEPTED, "adapter/http", backend_txid="BK-7"),
        datetime(2026, 1, 1, 10, 0, 5, tzinfo=UTC),
    )
    body = render_status(accepted, [sent, accepted])
    assert body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<FTPStatus version=\"1\">")
    assert body.endswith(b"</FTPStatus>\n")
    root = _parse(body)
    assert [child.tag for child in root] == [
        "FileName",
        "FTPTransactionID",
        "GatewayTransactionID",
        "BackendTransactionID",
        "Service",
        "Timestamp",
        "StatusCode",
        "StatusText",
        "Message",
        "Size",
        "SHA256",
        "History",
    ]
    assert root.findtext("FileName") == "report.xml"
    assert root.findtext("BackendTransactionID") == "BK-7"
    assert root.findtext("Timestamp") == "20260101100005"
    assert root.findtext("StatusCode") == "2"
    assert root.findtext("StatusText") == STATUS_TEXT[events_pb2.STATUS_CODE_ACCEPTED]
    assert root.findtext("Size") == "42"
    history = root.findall("History/Event")
    assert [(e.findtext("StatusCode"), e.findtext("Source")) for e in history] == [
        ("1", "router"),
        ("2", "adapter/http"),
    ]
    assert [e.findtext("Timestamp") for e in history] == ["20260101100000", "20260101100005"]


def test_the_newest_backend_id_and_response_file_of_history_win() -> None:
    first = status_event(UPLOAD, events_pb2.STATUS_CODE_ACCEPTED, "adapter/http", backend_txid="OLD")
    response = status_event(
        UPLOAD, events_pb2.STATUS_CODE_RESPONSE, "status", backend_txid="NEW", response_file="receipt.xml"
    )
    later = status_event(UPLOAD, events_pb2.STATUS_CODE_ACCEPTED, "adapter/http")
    root = _parse(render_status(later, [first, response, later]))
    assert root.findtext("BackendTransactionID") == "NEW"
    assert root.findtext("ResponseFileName") == "receipt.xml"


def test_an_error_carries_its_error_block_at_the_top_and_in_its_history_event() -> None:
    error = events_pb2.StatusError(code="backend_refused", message="no such account", resolution="Check the CVR.")
    sent = status_event(UPLOAD, events_pb2.STATUS_CODE_SENT, "router")
    failed = status_event(UPLOAD, events_pb2.STATUS_CODE_ERROR, "adapter/http", error=error)
    root = _parse(render_status(failed, [sent, failed]))
    assert root.findtext("StatusCode") == "0"
    assert root.findtext("Message") == "no such account"
    assert root.findtext("ResponseFileName") is None
    assert [root.findtext(f"Error/{tag}") for tag in ("Code", "Message", "Resolution")] == [
        "backend_refused",
        "no such account",
        "Check the CVR.",
    ]
    events = root.findall("History/Event")
    assert events[0].find("Error") is None
    assert events[1].findtext("Error/Code") == "backend_refused"


def test_characters_xml_cannot_carry_are_replaced_and_the_file_stays_well_formed() -> None:
    upload = events_pb2.UploadReceived()
    upload.CopyFrom(UPLOAD)
    upload.file_name = "bad\x00name\x1b.xml"
    event = status_event(upload, events_pb2.STATUS_CODE_SENT, "router", message="tab\tand <markup> & \ufffe")
    root = _parse(render_status(event, [event]))
    assert root.findtext("FileName") == "bad\ufffdname\ufffd.xml"
    assert root.findtext("Message") == "tab\tand <markup> & \ufffd"
