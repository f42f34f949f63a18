"""The status XML a client downloads from /out."""

from __future__ import annotations

import re
from datetime import UTC

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


# A node: a tag with its text, or with its child nodes.
_Node = tuple[str, "str | int | list[_Node]"]


def _error(error: events_pb2.StatusError) -> _Node:
    return ("Error", [("Code", error.code), ("Message", error.message), ("Resolution", error.resolution)])


def _serialize(node: _Node, indent: str) -> str:
    """One element as ElementTree's indent() and tostring() write it (tests/status/test_xml.py
    holds them to the same bytes): two spaces a level, ``<Tag />`` when empty, & < > escaped.

    Written here rather than built as an ElementTree: building and serialising the tree was a
    tenth of the status service's CPU per status file.
    """
    tag, content = node
    if isinstance(content, list):
        if not content:
            return f"{indent}<{tag} />"
        inner = "\n".join(_serialize(child, indent + "  ") for child in content)
        return f"{indent}<{tag}>\n{inner}\n{indent}</{tag}>"
    text = _text(str(content)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"{indent}<{tag}>{text}</{tag}>" if text else f"{indent}<{tag} />"


def render_status(current: events_pb2.StatusEvent, history: list[events_pb2.StatusEvent]) -> bytes:
    fields: list[_Node] = [
        ("FileName", current.file_name),
        ("FTPTransactionID", current.ftp_txid),
        ("GatewayTransactionID", current.gateway_txid),
        ("BackendTransactionID", next((e.backend_txid for e in reversed(history) if e.backend_txid), "")),
        ("Service", current.service),
        ("Timestamp", format_timestamp(current.occurred_at)),
        ("StatusCode", XML_CODE[current.code]),
        ("StatusText", STATUS_TEXT[current.code]),
        ("Message", current.message),
        ("Size", current.size),
        ("SHA256", current.sha256),
    ]
    response = next((e.response_file for e in reversed(history) if e.response_file), "")
    if response:
        fields.append(("ResponseFileName", response))
    if current.code == events_pb2.STATUS_CODE_ERROR:
        fields.append(_error(current.error))
    events: list[_Node] = []
    for event in history:
        node: list[_Node] = [
            ("Timestamp", format_timestamp(event.occurred_at)),
            ("StatusCode", XML_CODE[event.code]),
            ("StatusText", STATUS_TEXT[event.code]),
            ("Source", event.source),
            ("Message", event.message),
        ]
        if event.code == events_pb2.STATUS_CODE_ERROR:
            node.append(_error(event.error))
        events.append(("Event", node))
    fields.append(("History", events))
    body = "\n".join(_serialize(field, "  ") for field in fields)
    return f"<?xml version='1.0' encoding='UTF-8'?>\n<FTPStatus version=\"1\">\n{body}\n</FTPStatus>\n".encode()
