"""The status writer: a redelivered event changes nothing, and names that can never be written park at once."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
from pathlib import Path

import pytest
from gateway_common.events import new_id, status_event, timestamp
from gateway_common.messaging import PoisonMessage
from gateway_common.proto.gateway.v1 import events_pb2, identity_pb2
from gateway_common.storage import StorageLayout
from gateway_status.writer import StatusWriter

TENANT = "company/30808460"


def upload(ftp_txid: str, service: str = "heartbeat") -> events_pb2.UploadReceived:
    return events_pb2.UploadReceived(
        event_id=new_id(),
        gateway_txid=new_id(),
        sender=identity_pb2.Sender(tenant=TENANT, cvr="30808460", subject_id="1"),
        service=service,
        ftp_txid=ftp_txid,
        file_name=ftp_txid,
        size=1,
        sha256="ab" * 32,
        received_at=timestamp(),
    )


@pytest.fixture
def layout(tmp_path: Path) -> StorageLayout:
    layout = StorageLayout(tmp_path)
    layout.ensure()
    return layout


@pytest.mark.parametrize("per_code", [False, True])
def test_a_deleted_status_file_stays_deleted_on_redelivery(layout: StorageLayout, per_code: bool) -> None:
    writer = StatusWriter(layout, per_code_files=per_code)
    accepted = status_event(upload("report-1.xml"), events_pb2.STATUS_CODE_ACCEPTED, "adapter/heartbeat")
    writer._write(accepted)
    out = layout.out_dir(TENANT)
    written = sorted(p.name for p in out.iterdir())
    assert "status_heartbeat_report-1.xml.xml" in written
    for name in written:  # the client downloads and deletes them
        (out / name).unlink()

    _current, new = writer._write(accepted)  # the broker redelivers the same event

    assert not new
    assert sorted(p.name for p in out.iterdir()) == []


def test_a_deleted_response_file_stays_deleted_when_its_event_is_redelivered(layout: StorageLayout) -> None:
    writer = StatusWriter(layout, per_code_files=False)
    response = status_event(
        upload("query"), events_pb2.STATUS_CODE_RESPONSE, "adapter/http", response_file="response_heartbeat_query~a.xml"
    )
    spooled = layout.spool_dir / response.gateway_txid / "responses" / response.response_file
    spooled.parent.mkdir(parents=True)
    spooled.write_bytes(b"<answer/>")
    writer._write(response)
    out = layout.out_dir(TENANT)
    for path in out.iterdir():
        path.unlink()
    writer._write(response)
    assert list(out.iterdir()) == []


def test_a_name_over_255_bytes_is_poison_not_a_retry(layout: StorageLayout) -> None:
    """118 'æ' are 236 bytes: the status file name would exceed what a file system takes."""
    writer = StatusWriter(layout, per_code_files=False)
    event = status_event(upload("æ" * 118 + ".xml"), events_pb2.STATUS_CODE_SENT, "router")
    with pytest.raises(PoisonMessage):
        writer._write(event)
    assert not layout.out_dir(TENANT).exists()


async def test_status_events_in_flight_are_written_at_once_not_a_pool_at_a_time(
    layout: StorageLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Writes wait on the disk, not the CPU: all delivered events must be able to wait together.
    events = [
        status_event(upload(f"parallel-{n}"), events_pb2.STATUS_CODE_ACCEPTED, "adapter/heartbeat") for n in range(16)
    ]
    writer = StatusWriter(layout, per_code_files=False)
    real_fsync = os.fsync
    # Each write's first fsync waits until every event's write is inside one: only possible when
    # all of them run at once. A pool too small for that breaks the barrier after its timeout.
    together = threading.Barrier(len(events), timeout=20)
    waited = threading.local()

    def fsync_together(fd: int) -> None:
        # Files only: directory fsyncs are group-committed by one thread (gateway_common.groupsync).
        if stat.S_ISREG(os.fstat(fd).st_mode) and not getattr(waited, "done", False):
            waited.done = True
            together.wait()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_together)
    await asyncio.gather(*(writer.handle(event, None) for event in events))  # type: ignore[arg-type]
    out = layout.out_dir(TENANT)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"status_heartbeat_parallel-{n}.xml" for n in range(16))


def test_per_code_files_include_the_sent_that_accepted_brings_along(layout: StorageLayout) -> None:
    # "accepted" recorded first brings its "sent" into the history; the real "sent" arriving
    # later is a duplicate and writes nothing, so code 1's file must come with "accepted".
    writer = StatusWriter(layout, per_code_files=True)
    transaction = upload("report-2.xml")
    accepted = status_event(transaction, events_pb2.STATUS_CODE_ACCEPTED, "adapter/heartbeat")
    writer.write(accepted)
    sent = status_event(transaction, events_pb2.STATUS_CODE_SENT, "adapter/heartbeat")
    _current, new = writer._write(sent)
    assert not new
    out = layout.out_dir(TENANT)
    names = {code: writer.naming.status("heartbeat", "report-2.xml", code) for code in (None, 1, 2)}
    assert sorted(p.name for p in out.iterdir()) == sorted(names.values())
    assert b"<StatusCode>1</StatusCode>" in (out / names[1]).read_bytes()
