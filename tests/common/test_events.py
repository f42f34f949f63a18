"""events.py: status events with deterministic ids, the guide's texts and the XML codes."""

from __future__ import annotations

from gateway_common.events import GATEWAY_TXID, STATUS_TEXT, XML_CODE, new_id, status_event
from gateway_common.proto.gateway.v1 import events_pb2

from tests.support.bus import upload_event

UPLOAD = upload_event("svc", "a" * 32)


def test_a_redone_step_makes_the_same_event_id() -> None:
    first = status_event(UPLOAD, events_pb2.STATUS_CODE_ACCEPTED, "adapter/x")
    again = status_event(UPLOAD, events_pb2.STATUS_CODE_ACCEPTED, "adapter/x", message="other words")
    assert first.event_id == again.event_id == f"{'a' * 32}/accepted"


def test_each_outcome_and_response_file_has_its_own_event_id() -> None:
    ids = {
        status_event(UPLOAD, code, "s").event_id
        for code in (
            events_pb2.STATUS_CODE_ERROR,
            events_pb2.STATUS_CODE_SENT,
            events_pb2.STATUS_CODE_ACCEPTED,
            events_pb2.STATUS_CODE_RESPONSE,
        )
    }
    ids |= {status_event(UPLOAD, events_pb2.STATUS_CODE_RESPONSE, "s", response_file=f"r{n}").event_id for n in (1, 2)}
    assert len(ids) == 6


def test_the_event_carries_the_upload_and_the_guides_text() -> None:
    event = status_event(UPLOAD, events_pb2.STATUS_CODE_SENT, "adapter/x", backend_txid="B-1")
    assert (event.gateway_txid, event.service, event.ftp_txid, event.file_name) == (
        UPLOAD.gateway_txid,
        UPLOAD.service,
        UPLOAD.ftp_txid,
        UPLOAD.file_name,
    )
    assert event.sender == UPLOAD.sender
    assert (event.size, event.sha256, event.backend_txid, event.source) == (
        UPLOAD.size,
        UPLOAD.sha256,
        "B-1",
        "adapter/x",
    )
    assert event.message == STATUS_TEXT[events_pb2.STATUS_CODE_SENT]
    assert event.occurred_at.seconds > 0


def test_an_error_event_says_the_error_message() -> None:
    error = events_pb2.StatusError(code="bad", message="line 3 is not XML", resolution="Fix it.")
    event = status_event(UPLOAD, events_pb2.STATUS_CODE_ERROR, "router", error=error)
    assert event.message == "line 3 is not XML"
    assert event.error == error


def test_xml_codes_are_the_guides() -> None:
    assert XML_CODE == {
        events_pb2.STATUS_CODE_ERROR: 0,
        events_pb2.STATUS_CODE_SENT: 1,
        events_pb2.STATUS_CODE_ACCEPTED: 2,
        events_pb2.STATUS_CODE_RESPONSE: 3,
    }


def test_new_ids_are_gateway_transaction_ids_and_unique() -> None:
    made = {new_id() for _ in range(100)}
    assert len(made) == 100
    assert all(GATEWAY_TXID.fullmatch(value) for value in made)
