"""The status XML itself: which event's fields it shows, what it keeps from history, what it cleans."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from gateway_common.events import STATUS_TEXT, XML_CODE, status_event
from gateway_common.proto.gateway.v1 import events_pb2, identity_pb2
from gateway_status.xml import _text, format_timestamp, render_status
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _reference(current: events_pb2.StatusEvent, history: list[events_pb2.StatusEvent]) -> bytes:
    """The status file as ElementTree writes it: the renderer must give these bytes exactly."""

    def add(parent: ET.Element, tag: str, value: str | int) -> None:
        ET.SubElement(parent, tag).text = _text(str(value))

    def add_error(parent: ET.Element, error: events_pb2.StatusError) -> None:
        node = ET.SubElement(parent, "Error")
        for tag, value in (("Code", error.code), ("Message", error.message), ("Resolution", error.resolution)):
            add(node, tag, value)

    root = ET.Element("FTPStatus", {"version": "1"})
    add(root, "FileName", current.file_name)
    add(root, "FTPTransactionID", current.ftp_txid)
    add(root, "GatewayTransactionID", current.gateway_txid)
    add(root, "BackendTransactionID", next((e.backend_txid for e in reversed(history) if e.backend_txid), ""))
    add(root, "Service", current.service)
    add(root, "Timestamp", format_timestamp(current.occurred_at))
    add(root, "StatusCode", XML_CODE[current.code])
    add(root, "StatusText", STATUS_TEXT[current.code])
    add(root, "Message", current.message)
    add(root, "Size", current.size)
    add(root, "SHA256", current.sha256)
    response = next((e.response_file for e in reversed(history) if e.response_file), "")
    if response:
        add(root, "ResponseFileName", response)
    if current.code == events_pb2.STATUS_CODE_ERROR:
        add_error(root, current.error)
    events = ET.SubElement(root, "History")
    for event in history:
        node = ET.SubElement(events, "Event")
        add(node, "Timestamp", format_timestamp(event.occurred_at))
        add(node, "StatusCode", XML_CODE[event.code])
        add(node, "StatusText", STATUS_TEXT[event.code])
        add(node, "Source", event.source)
        add(node, "Message", event.message)
        if event.code == events_pb2.STATUS_CODE_ERROR:
            add_error(node, event.error)
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


_texts = st.text(max_size=12) | st.sampled_from(["", "a&b", "<x>", "]]>", "\x00\x1f", "æøå", "\"q'", "\r\n"])
_events = st.builds(
    lambda code, message, source, backend, response, error, seconds: _at(
        status_event(
            UPLOAD,
            code,
            source,
            message=message,
            backend_txid=backend,
            response_file=response,
            error=events_pb2.StatusError(code=error, message=message, resolution=source)
            if code == events_pb2.STATUS_CODE_ERROR
            else None,
        ),
        datetime.fromtimestamp(seconds, tz=UTC),
    ),
    st.sampled_from(list(XML_CODE)),
    _texts,
    _texts,
    _texts,
    _texts,
    _texts,
    st.integers(0, 4_000_000_000),
)


@settings(max_examples=300, deadline=None)
@given(history=st.lists(_events, min_size=1, max_size=4))
def test_the_bytes_are_elementtrees(history: list[events_pb2.StatusEvent]) -> None:
    assert render_status(history[-1], history) == _reference(history[-1], history)
