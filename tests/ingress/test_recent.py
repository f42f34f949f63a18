"""RecentUploads in memory: what SIZE and MDTM answer after an upload left, and for how long."""

from __future__ import annotations

import time

from gateway_ingress.recent import RecentUploads

from tests.support.clock import Clock


def test_an_upload_is_answered_for_the_grace_and_then_forgotten() -> None:
    clock = Clock()
    recent = RecentUploads(60, clock=clock)
    recent.add("/t/svc/a", 10, 5.0)
    clock.now += 30
    recent.add("/t/svc/b", 20, 6.0)
    clock.now += 29
    assert (recent.get("/t/svc/a"), recent.get("/t/svc/b")) == ((10, 5.0), (20, 6.0))
    clock.now += 1
    assert (recent.get("/t/svc/a"), recent.get("/t/svc/b")) == (None, (20, 6.0))
    clock.now += 30
    assert recent.get("/t/svc/b") is None


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
