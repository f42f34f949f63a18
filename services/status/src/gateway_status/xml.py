"""The status XML a client downloads from /out."""

from __future__ import annotations

import re
from datetime import UTC
from xml.etree import ElementTree as ET

from gateway_common.events import STATUS_TEXT, XML_CODE
from gateway_common.proto.gateway.v1 import events_pb2
from google.protobuf.timestamp_pb2 import Timestamp

# Characters XML 1.0 cannot carry at all; they are replaced so the file stays well-formed.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def format_timestamp(ts: Timestamp) -> str:
    """yyyyMMddHHmmss in UTC, as the original gateway's status files carried it."""
    return ts.ToDatetime(tzinfo=UTC).strftime("%Y%m%d%H%M%S")


def _add(parent: ET.Element, tag: str, value: str | int) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = _text(str(value))
    return element


def _add_error(parent: ET.Element, error: events_pb2.StatusError) -> None:
    node = ET.SubElement(parent, "Error")
    _add(node, "Code", error.code)
    _add(node, "Message", error.message)
    _add(node, "Resolution", error.resolution)


def render_status(current: events_pb2.StatusEvent, history: list[events_pb2.StatusEvent]) -> bytes:
    root = ET.Element("FTPStatus", {"version": "1"})
    _add(root, "FileName", current.file_name)
    _add(root, "FTPTransactionID", current.ftp_txid)
    _add(root, "GatewayTransactionID", current.gateway_txid)
    _add(root, "BackendTransactionID", next((e.backend_txid for e in reversed(history) if e.backend_txid), ""))
    _add(root, "Service", current.service)
    _add(root, "Timestamp", format_timestamp(current.occurred_at))
    _add(root, "StatusCode", XML_CODE[current.code])
    _add(root, "StatusText", STATUS_TEXT[current.code])
    _add(root, "Message", current.message)
    _add(root, "Size", current.size)
    _add(root, "SHA256", current.sha256)
    response = next((e.response_file for e in reversed(history) if e.response_file), "")
    if response:
        _add(root, "ResponseFileName", response)
    if current.code == events_pb2.STATUS_CODE_ERROR:
        _add_error(root, current.error)
    events = ET.SubElement(root, "History")
    for event in history:
        node = ET.SubElement(events, "Event")
        _add(node, "Timestamp", format_timestamp(event.occurred_at))
        _add(node, "StatusCode", XML_CODE[event.code])
        _add(node, "StatusText", STATUS_TEXT[event.code])
        _add(node, "Source", event.source)
        _add(node, "Message", event.message)
        if event.code == events_pb2.STATUS_CODE_ERROR:
            _add_error(node, event.error)
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return body + b"\n"
