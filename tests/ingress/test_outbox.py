"""outbox.py: events kept on disk until the broker confirmed them."""

from __future__ import annotations

import os
from pathlib import Path

from gateway_ingress.outbox import Outbox

from tests.support.bus import upload_event


def test_an_event_put_reads_back_and_is_gone_once_removed(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    event = upload_event("svc", "a" * 32)
    outbox.put(event)
    ((_, path),) = outbox.pending()
    assert Outbox.load(path) == event
    outbox.remove(event.event_id)
    outbox.remove(event.event_id)  # removing twice is harmless (relay and upload may race)
    assert outbox.pending() == []


def test_pending_lists_oldest_first_and_skips_half_written_files(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    for index, age in enumerate((30, 90, 60)):
        outbox.put(upload_event(gateway_txid=f"{index:032x}", event_id=f"e{index}"))
        when = os.stat(tmp_path / f"e{index}.pb").st_mtime - age
        os.utime(tmp_path / f"e{index}.pb", (when, when))
    (tmp_path / ".tmp-e9.pb").write_bytes(b"half")
    assert [path.stem for _, path in outbox.pending()] == ["e1", "e2", "e0"]
