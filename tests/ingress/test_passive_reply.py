"""passive_reply.py: the reply to EPSV/PASV leaves passive_reply_delay after the command, in order."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ingress import Ingress, running_ingress

DELAY = 0.2  # long enough to tell apart from a prompt reply on a loaded machine


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory, demo_pki: Path, module_vhost: str) -> Iterator[Ingress]:
    with running_ingress(
        tmp_path_factory.mktemp("ingress"), demo_pki, module_vhost, passive_reply_delay=DELAY
    ) as server:
        yield server


@pytest.mark.parametrize("command", ["EPSV", "PASV"])
def test_the_reply_waits_and_what_follows_it_keeps_its_order(slow: Ingress, command: str) -> None:
    control = slow.control()
    control.protect()
    started = time.monotonic()
    # A client that does not wait: its next command's reply must come after the held one.
    control.sock.sendall(f"{command}\r\nNOOP\r\n".encode())
    first = control.reply()
    waited = time.monotonic() - started
    assert first.startswith("229" if command == "EPSV" else "227"), first
    assert waited >= DELAY
    assert control.reply().startswith("200"), "NOOP's reply came before the held one"
    control.close()


def test_a_quit_within_the_hold_gets_the_held_reply_then_its_own(slow: Ingress) -> None:
    control = slow.control()
    control.protect()
    control.sock.sendall(b"EPSV\r\nQUIT\r\n")
    assert control.reply().startswith("229")
    assert control.reply().startswith("221")
    control.close()


def test_a_status_listing_within_the_hold_comes_after_the_held_reply(slow: Ingress) -> None:
    # STAT <path> sends its listing by another way than replies (asynchat's producers).
    control = slow.control()
    control.protect()
    control.sock.sendall(b"EPSV\r\nSTAT /\r\n")
    assert control.reply().startswith("229")
    listing = control.reply()
    assert listing.startswith('213-Status of "/"'), listing
    assert listing.rstrip().endswith("213 End of status."), listing
    control.close()


def test_by_default_the_reply_waits_a_millisecond_only(ingress: Ingress) -> None:
    control = ingress.control()
    control.protect()
    waits = []
    for _ in range(15):
        started = time.monotonic()
        assert control.send("EPSV").startswith("229")
        waits.append(time.monotonic() - started)
    control.close()
    # The median: one reply may wait for a busy machine. Far below a loop's poll interval
    # (a loop polling every 50 ms held every reply 50 ms).
    assert statistics.median(waits) < 0.02, waits
