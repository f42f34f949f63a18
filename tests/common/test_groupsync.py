"""Directory fsyncs shared by concurrent callers (gateway_common.groupsync via storage.fsync_dir)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from gateway_common.storage import atomic_write, fsync_dir

CALLERS = 8


class SlowFsync:
    """The real fsync, made slow enough that concurrent callers overlap even on a loaded machine."""

    def __init__(self, delay: float, fail_first: bool = False) -> None:
        self.real = os.fsync
        self.delay = delay
        self.fail_first = fail_first
        self.calls: list[tuple[float, float]] = []
        self.lock = threading.Lock()

    def __call__(self, fd: int) -> None:
        started = time.monotonic()
        time.sleep(self.delay)
        with self.lock:
            if self.fail_first:
                self.fail_first = False
                raise OSError(5, "injected I/O error")
        self.real(fd)
        with self.lock:
            self.calls.append((started, time.monotonic()))


def _call_concurrently(directory: Path) -> tuple[list[tuple[float, float]], list[BaseException]]:
    barrier = threading.Barrier(CALLERS)
    spans: list[tuple[float, float]] = []
    errors: list[BaseException] = []

    def caller(n: int) -> None:
        barrier.wait()
        (directory / f"file-{n}").write_bytes(b"x")
        called = time.monotonic()
        try:
            fsync_dir(directory)
        except OSError as exc:
            errors.append(exc)
            return
        spans.append((called, time.monotonic()))

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return spans, errors


def test_concurrent_callers_share_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fsync = SlowFsync(0.2)
    monkeypatch.setattr(os, "fsync", fsync)
    spans, errors = _call_concurrently(tmp_path)
    assert not errors
    assert len(spans) == CALLERS
    # One fsync per caller before; callers arriving together now need two (the one running when
    # they came, the one after), a few more when a loaded machine staggers them.
    assert len(fsync.calls) <= CALLERS // 2


def test_no_caller_returns_before_an_fsync_that_began_after_its_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsync = SlowFsync(0.05)
    monkeypatch.setattr(os, "fsync", fsync)
    spans, errors = _call_concurrently(tmp_path)
    assert not errors
    for called, returned in spans:
        assert any(called <= began and ended <= returned for began, ended in fsync.calls), (called, returned)


def test_a_failed_fsync_is_raised_where_it_ran_and_the_others_sync_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsync = SlowFsync(0.1, fail_first=True)
    monkeypatch.setattr(os, "fsync", fsync)
    spans, errors = _call_concurrently(tmp_path)
    assert len(errors) == 1
    assert len(spans) == CALLERS - 1
    for called, returned in spans:
        assert any(called <= began and ended <= returned for began, ended in fsync.calls)


def test_atomic_write_still_durable_and_whole(tmp_path: Path) -> None:
    target = tmp_path / "status.xml"
    atomic_write(target, b"<Status/>")
    assert target.read_bytes() == b"<Status/>"
    assert [p.name for p in tmp_path.iterdir()] == ["status.xml"]
