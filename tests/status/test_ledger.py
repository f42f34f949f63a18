"""The status ledger: redelivered events add nothing, and a late event never demotes the status."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from gateway_common.events import status_event, timestamp
from gateway_common.messaging import PoisonMessage
from gateway_common.proto.gateway.v1 import events_pb2, identity_pb2
from gateway_status.ledger import Ledger, current_status

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _upload() -> events_pb2.UploadReceived:
    return events_pb2.UploadReceived(
        gateway_txid=uuid.uuid4().hex,
        service="heartbeat",
        ftp_txid="tx-1",
        file_name="tx-1",
        sender=identity_pb2.Sender(tenant="company/30808460"),
    )


def _event(upload: events_pb2.UploadReceived, code: int, seconds: int) -> events_pb2.StatusEvent:
    event = status_event(upload, code, "test")  # type: ignore[arg-type]
    event.occurred_at.CopyFrom(timestamp(T0 + timedelta(seconds=seconds)))
    return event


def _record(ledger: Ledger, event: events_pb2.StatusEvent) -> tuple[list[events_pb2.StatusEvent], bool]:
    with ledger.locked(event.gateway_txid):
        history, added = ledger.history_with(event)
        if added:  # as the writer does once the event's files are written
            ledger.save(event.gateway_txid, history)
        return history, bool(added)


def test_redelivered_event_is_recorded_once(tmp_path: Path) -> None:
    ledger, upload = Ledger(tmp_path), _upload()
    sent = _event(upload, events_pb2.STATUS_CODE_SENT, 1)
    assert _record(ledger, sent)[1] is True
    # A redone step makes the same event again (same id, later time): nothing is added.
    history, new = _record(ledger, _event(upload, events_pb2.STATUS_CODE_SENT, 5))
    assert new is False
    assert [e.event_id for e in history] == [sent.event_id]


@pytest.mark.parametrize(
    ("arrivals", "expected"),
    [
        # (code, occurred_at second) in the order the status service receives them
        ([(events_pb2.STATUS_CODE_ACCEPTED, 2), (events_pb2.STATUS_CODE_SENT, 1)], events_pb2.STATUS_CODE_ACCEPTED),
        ([(events_pb2.STATUS_CODE_ACCEPTED, 1), (events_pb2.STATUS_CODE_SENT, 2)], events_pb2.STATUS_CODE_ACCEPTED),
        ([(events_pb2.STATUS_CODE_RESPONSE, 3), (events_pb2.STATUS_CODE_ACCEPTED, 2)], events_pb2.STATUS_CODE_RESPONSE),
        ([(events_pb2.STATUS_CODE_ERROR, 2), (events_pb2.STATUS_CODE_ACCEPTED, 3)], events_pb2.STATUS_CODE_ACCEPTED),
        ([(events_pb2.STATUS_CODE_SENT, 1), (events_pb2.STATUS_CODE_ERROR, 2)], events_pb2.STATUS_CODE_ERROR),
    ],
)
def test_a_late_event_never_overwrites_a_newer_state(
    tmp_path: Path, arrivals: list[tuple[int, int]], expected: int
) -> None:
    ledger, upload = Ledger(tmp_path), _upload()
    for code, second in arrivals:
        history, _ = _record(ledger, _event(upload, code, second))
    assert current_status(history).code == expected
    assert [e.occurred_at.seconds for e in history] == sorted(e.occurred_at.seconds for e in history)


def test_malformed_transaction_id_is_poison(tmp_path: Path) -> None:
    with pytest.raises(PoisonMessage), Ledger(tmp_path).locked("../../etc"):
        pass


def test_accepted_before_its_sent_still_shows_sent_first(tmp_path: Path) -> None:
    # Adapters publish "accepted" alone (older ones "sent" first, and the status service
    # handles messages concurrently): a client reading that file must still see that the file
    # was sent, and a "sent" arriving afterwards must not add a second entry.
    ledger = Ledger(tmp_path)
    upload = _upload()
    sent, accepted = _event(upload, events_pb2.STATUS_CODE_SENT, 0), _event(upload, events_pb2.STATUS_CODE_ACCEPTED, 1)
    history, new = _record(ledger, accepted)
    assert new
    assert [e.code for e in history] == [events_pb2.STATUS_CODE_SENT, events_pb2.STATUS_CODE_ACCEPTED]
    assert history[0].event_id == sent.event_id
    history, new = _record(ledger, sent)
    assert not new
    assert [e.code for e in history] == [events_pb2.STATUS_CODE_SENT, events_pb2.STATUS_CODE_ACCEPTED]
