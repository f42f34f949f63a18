"""Usage of /out for the quota: measured on a worker thread, reused for a while, temporary files never counted."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_ingress.quota import OutUsage, out_usage


def test_temporary_files_of_crashed_writers_do_not_count(tmp_path: Path) -> None:
    (tmp_path / "status_a.xml").write_bytes(b"x" * 100)
    (tmp_path / ".tmp-outbound.1234").write_bytes(b"x" * 10_000)  # a push cut off by a crash
    (tmp_path / ".tmp-status_b.xml.abcd").write_bytes(b"x" * 10_000)
    (tmp_path / "folder").mkdir()
    assert out_usage(tmp_path) == 100
    assert out_usage(tmp_path / "missing") == 0


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_measured_once_then_reused_and_refreshed_in_the_background(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    ioloop: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.SimpleQueue()
    now = [0.0]
    usage = OutUsage(10.0, loop, lambda fn, *args: ioloop.put((fn, args)), clock=lambda: now[0])

    def run_ioloop_once() -> None:
        fn, args = ioloop.get(timeout=5)
        fn(*args)

    (tmp_path / "a.xml").write_bytes(b"x" * 10)
    assert usage.used(tmp_path) is None
    answered: list[int | None] = []
    usage.measure(tmp_path, lambda: answered.append(usage.used(tmp_path)))
    run_ioloop_once()
    assert answered == [10]

    (tmp_path / "b.xml").write_bytes(b"x" * 5)
    now[0] = 5.0
    assert usage.used(tmp_path) == 10  # fresh enough: no listing at all
    assert ioloop.empty()
    now[0] = 11.0
    assert usage.used(tmp_path) == 10  # old: answered at once, measured again in the background
    run_ioloop_once()
    assert usage.used(tmp_path) == 15

    usage.forget(tmp_path)  # a DELE in /out on this replica
    assert usage.used(tmp_path) is None


def test_a_measurement_taken_before_a_delete_is_not_kept(tmp_path: Path, loop: asyncio.AbstractEventLoop) -> None:
    ioloop: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.SimpleQueue()
    usage = OutUsage(10.0, loop, lambda fn, *args: ioloop.put((fn, args)))
    (tmp_path / "big.xml").write_bytes(b"x" * 100)
    answered: list[int | None] = []
    usage.measure(tmp_path, lambda: answered.append(usage.used(tmp_path)))
    measured, args = ioloop.get(timeout=5)  # /out was read: 100 bytes, on its way to the IO loop
    (tmp_path / "big.xml").unlink()  # meanwhile a DELE in /out
    usage.forget(tmp_path)
    measured(*args)
    # Kept, the 100 bytes would refuse uploads for up to max_age though they are gone: the
    # waiting STOR gets a measurement taken after the delete instead.
    assert answered == []
    assert usage.used(tmp_path) is None
    measured, args = ioloop.get(timeout=5)
    measured(*args)
    assert answered == [0]
    assert usage.used(tmp_path) == 0


def test_a_waiting_stor_is_answered_while_deletes_keep_coming(tmp_path: Path, loop: asyncio.AbstractEventLoop) -> None:
    # Another session deletes an /out file during every measurement (RETR and DELE in a loop, a
    # large /out): the STOR waiting for the quota still gets an answer, from the second one.
    ioloop: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.SimpleQueue()
    usage = OutUsage(10.0, loop, lambda fn, *args: ioloop.put((fn, args)))
    for n in range(5):
        (tmp_path / f"s{n}.xml").write_bytes(b"x" * 10)
    answered: list[int | None] = []
    usage.measure(tmp_path, lambda: answered.append(usage.used(tmp_path)))
    for n in range(5):
        if answered:
            break
        measured, args = ioloop.get(timeout=5)
        (tmp_path / f"s{n}.xml").unlink()
        usage.forget(tmp_path)
        measured(*args)
    assert answered == [40], "answered with the reading taken after the first delete"
    # That reading is kept as expired: the next check uses it once and measures again.
    measured, args = ioloop.get(timeout=5)
    measured(*args)
    assert usage.used(tmp_path) == 30
