"""recent.py: SIZE and MDTM answers for uploads that already left, here and on another replica."""

from __future__ import annotations

import json
import time
from pathlib import Path

from gateway_ingress.recent import RecentUploads

from tests.support.clock import Clock

PATH = "/data/tenants/company/30808460/RID-1/heartbeat/tx-1"


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


def test_adding_a_path_again_restarts_its_grace() -> None:
    clock = Clock()
    recent = RecentUploads(60, clock=clock)
    recent.add("/t/svc/a", 10, 5.0)
    recent.add("/t/svc/b", 20, 6.0)
    clock.now += 50
    recent.add("/t/svc/a", 10, 7.0)  # MFMT sets the time of a recent upload
    clock.now += 20
    assert (recent.get("/t/svc/a"), recent.get("/t/svc/b")) == ((10, 7.0), None)


def test_a_clock_set_back_does_not_keep_an_expired_upload() -> None:
    clock = Clock()
    recent = RecentUploads(60, clock=clock)
    recent.add("/t/svc/a", 10, 5.0)
    clock.now -= 100
    recent.add("/t/svc/b", 20, 6.0)  # expires before a, though added after it
    clock.now += 100
    assert (recent.get("/t/svc/a"), recent.get("/t/svc/b")) == ((10, 5.0), None)


def _seconds_per_add(recent: RecentUploads, start: int) -> float:
    best = float("inf")
    for attempt in range(5):
        began = time.perf_counter()
        for n in range(200):
            recent.add(f"/t/svc/new-{start}-{attempt}-{n}", 1, 0.0)
        best = min(best, (time.perf_counter() - began) / 200)
    return best


def test_an_upload_costs_the_io_loop_the_same_with_many_recent_ones() -> None:
    # The 300 s default grace at 300 uploads/s keeps 90,000 entries; add() runs on the FTP IO loop
    # for every upload and must not walk them all (it did: ~3 ms per upload at that size).
    few, many = RecentUploads(300), RecentUploads(300)
    for n in range(50_000):
        many.add(f"/t/svc/old-{n}", 1, 0.0)
    assert _seconds_per_add(many, 1) < 10 * _seconds_per_add(few, 1)
