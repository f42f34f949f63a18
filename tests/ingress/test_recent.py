"""recent.py: SIZE and MDTM answers for uploads that already left, here and on another replica."""

from __future__ import annotations

import json
import time
from pathlib import Path

from gateway_ingress.recent import RecentUploads

PATH = "/data/tenants/company/30808460/RID-1/heartbeat/tx-1"


class Clock:
    """A clock the test moves by hand (RecentUploads takes any callable for its time)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _settled(recent: RecentUploads) -> None:
    """Wait for the background writer: records reach the storage off the IO loop."""
    recent._writer.submit(lambda: None).result(10)


def test_an_upload_is_remembered_for_the_grace_and_then_forgotten() -> None:
    clock = Clock()
    recent = RecentUploads(60, clock=clock)
    recent.add(PATH, 1234, 1_700_000_000.0)
    assert recent.get(PATH) == (1234, 1_700_000_000.0)
    assert recent.get(PATH + "x") is None
    clock.now += 59.9
    assert recent.get(PATH) == (1234, 1_700_000_000.0)
    clock.now += 0.1
    assert recent.get(PATH) is None


def test_a_later_upload_to_the_same_path_replaces_the_answer() -> None:
    clock = Clock()
    recent = RecentUploads(60, clock=clock)
    recent.add(PATH, 1, 1.0)
    clock.now += 50
    recent.add(PATH, 2, 2.0)
    clock.now += 50  # past the first one's grace, within the second's
    assert recent.get(PATH) == (2, 2.0)


def test_a_grace_of_zero_remembers_nothing(tmp_path: Path) -> None:
    recent = RecentUploads(0, tmp_path)
    recent.add(PATH, 1, 1.0)
    _settled(recent)
    assert recent.get(PATH) is None
    assert list(tmp_path.iterdir()) == []


def test_another_replica_answers_from_the_record_on_the_shared_storage(tmp_path: Path) -> None:
    clock = Clock()
    uploaded_here = RecentUploads(60, tmp_path, clock=clock)
    uploaded_here.add(PATH, 4321, 1_700_000_001.0)
    _settled(uploaded_here)
    other_replica = RecentUploads(60, tmp_path, clock=clock)
    assert other_replica.get(PATH) == (4321, 1_700_000_001.0)
    assert other_replica.get(PATH + "2") is None
    clock.now += 60
    assert other_replica.get(PATH) is None
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]


def test_a_record_of_another_path_under_the_same_key_is_not_believed(tmp_path: Path) -> None:
    recent = RecentUploads(60, tmp_path)
    recent.add(PATH, 10, 1.0)
    _settled(recent)
    (record,) = [p for p in tmp_path.rglob("*") if p.is_file()]
    record.write_text(json.dumps({"path": "/elsewhere", "size": 10, "mtime": 1.0, "expires": time.time() + 60}))
    assert RecentUploads(60, tmp_path).get(PATH) is None
    record.write_text("{not json")
    assert RecentUploads(60, tmp_path).get(PATH) is None


def test_a_storage_that_cannot_take_the_record_costs_only_that_answer(tmp_path: Path) -> None:
    blocked = tmp_path / "recent"
    blocked.write_text("a file where the folder should be")
    recent = RecentUploads(60, blocked)
    recent.add(PATH, 7, 1.0)
    _settled(recent)
    assert recent.get(PATH) == (7, 1.0)  # this replica still knows
    assert RecentUploads(60, blocked).get(PATH) is None
    assert [p.name for p in tmp_path.iterdir()] == ["recent"]  # no temporary file left behind
