"""waker.py: work finished on other threads runs on the FTP IO loop, in order, none lost."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from gateway_ingress.waker import Waker
from pyftpdlib.ioloop import IOLoop


@pytest.fixture
def loop() -> Iterator[IOLoop]:
    ioloop = IOLoop()
    yield ioloop
    ioloop.close()


def _run_until(ioloop: IOLoop, done: threading.Event, timeout: float = 10) -> None:
    """Poll the loop in this thread (as serve_forever does) until ``done`` or ``timeout``."""
    for _ in range(int(timeout / 0.01)):
        if done.is_set():
            return
        ioloop.poll(0.01)
    raise AssertionError("the loop did not run the callbacks in time")


def test_callbacks_from_many_threads_all_run_on_the_loop_thread_in_each_threads_order(loop: IOLoop) -> None:
    waker = Waker(loop)
    ran: list[tuple[int, int, str]] = []
    done = threading.Event()
    threads, per_thread = 8, 500

    def record(sender: int, n: int) -> None:
        ran.append((sender, n, threading.current_thread().name))
        if len(ran) == threads * per_thread:
            done.set()

    def send(sender: int) -> None:
        for n in range(per_thread):
            waker.call_soon_threadsafe(record, sender, n)

    senders = [threading.Thread(target=send, args=(s,)) for s in range(threads)]
    for thread in senders:
        thread.start()
    _run_until(loop, done)
    for thread in senders:
        thread.join()
    assert {name for _, _, name in ran} == {threading.current_thread().name}
    for sender in range(threads):
        assert [n for s, n, _ in ran if s == sender] == list(range(per_thread))


def test_a_failing_callback_does_not_stop_the_ones_after_it(loop: IOLoop) -> None:
    waker = Waker(loop)
    done = threading.Event()

    def fail() -> None:
        raise RuntimeError("a reply to a closed session")

    waker.call_soon_threadsafe(fail)
    waker.call_soon_threadsafe(done.set)
    _run_until(loop, done)


def test_close_takes_it_off_the_loop(loop: IOLoop) -> None:
    waker = Waker(loop)
    assert len(loop.socket_map) == 1
    waker.close()
    assert len(loop.socket_map) == 0
