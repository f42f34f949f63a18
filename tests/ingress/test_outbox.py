"""outbox.py: events kept on disk until the broker confirmed them."""

from __future__ import annotations

import os
from pathlib import Path

from gateway_common.storage import StorageLayout
from gateway_ingress.outbox import Outbox

from tests.support.bus import upload_event


def test_an_event_put_reads_back_and_moves_beside_its_payload_once_retired(tmp_path: Path) -> None:
    layout = StorageLayout(tmp_path / "data")
    (tmp_path / "outbox").mkdir()
    outbox = Outbox(tmp_path / "outbox")
    event = upload_event("svc", "a" * 32)
    event.spool_path = layout.relative(layout.spool_txn(event.gateway_txid) / "payload")
    layout.spool_txn(event.gateway_txid).mkdir(parents=True)
    outbox.put(event)
    ((_, path),) = outbox.pending()
    assert Outbox.load(path) == event
    outbox.retire(event, layout)
    outbox.retire(event, layout)  # retiring twice is harmless (relay and upload may race)
    assert outbox.pending() == []
    assert Outbox.load(layout.upload_record(event)) == event


def test_an_event_without_a_spool_folder_is_dropped_when_retired(tmp_path: Path) -> None:
    (tmp_path / "outbox").mkdir()
    outbox = Outbox(tmp_path / "outbox")
    event = upload_event("svc", "b" * 32)
    outbox.put(event)
    outbox.retire(event, StorageLayout(tmp_path / "data"))
    assert outbox.pending() == []


def test_pending_lists_oldest_first_and_skips_half_written_files(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    for index, age in enumerate((30, 90, 60)):
        outbox.put(upload_event(gateway_txid=f"{index:032x}", event_id=f"e{index}"))
        when = os.stat(tmp_path / f"e{index}.pb").st_mtime - age
        os.utime(tmp_path / f"e{index}.pb", (when, when))
    (tmp_path / ".tmp-e9.pb").write_bytes(b"half")
    assert [path.stem for _, path in outbox.pending()] == ["e1", "e2", "e0"]
