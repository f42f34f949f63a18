"""drain.py: on SIGTERM idle sessions are sent away, running uploads get their 226, then the loop ends."""

from __future__ import annotations

import time
from pathlib import Path

from gateway_ingress import replies
from gateway_ingress.drain import Drain

from tests.support.ftps import Control
from tests.support.ingress import Ingress, running_ingress


def _ended(ingress: Ingress, timeout: float = 10) -> bool:
    ingress.thread.join(timeout)
    return not ingress.thread.is_alive()


def test_readiness_turns_red_once_draining() -> None:
    drain = Drain(30)
    assert drain.readiness() is None
    drain.request()
    drain.request()  # a second SIGTERM changes nothing
    assert drain.readiness() == "shutting down"


def test_idle_sessions_and_new_connections_are_sent_away_then_the_loop_ends(
    tmp_path: Path, demo_pki: Path, module_vhost: str
) -> None:
    with running_ingress(tmp_path, demo_pki, module_vhost) as ingress:
        idle = ingress.control()
        ingress.handler.drain.request()
        assert idle.reply().strip() == replies.SHUTTING_DOWN()
        assert idle.closed_by_server()
        assert _ended(ingress), "the ingress kept running with no session left"


def test_a_running_upload_gets_its_226_before_the_session_is_ended(
    tmp_path: Path, demo_pki: Path, module_vhost: str
) -> None:
    with running_ingress(tmp_path, demo_pki, module_vhost, drain_timeout=30) as ingress:
        control, data = ingress.storing("heartbeat/tx-drain")
        data.sendall(b"x" * 10_000)
        ingress.handler.drain.request()
        newcomer = Control(ingress.port)
        assert newcomer.greeting.strip() == replies.SHUTTING_DOWN()
        time.sleep(0.5)  # two drain polls: the upload is not cut off
        data.sendall(b"y" * 10_000)
        data.unwrap()  # close_notify: the upload is complete
        data.close()
        assert control.reply().strip() == replies.UPLOADED(txid="tx-drain", service="heartbeat")
        assert control.reply().strip() == replies.SHUTTING_DOWN()
        assert _ended(ingress)
        reservation = ingress.layout.find_reservation("company/30808460", "heartbeat", "tx-drain")
        assert reservation is not None
        assert (ingress.layout.spool_txn(reservation.read_text()) / "payload").stat().st_size == 20_000


def test_an_upload_still_running_when_the_drain_time_is_up_gets_no_226(
    tmp_path: Path, demo_pki: Path, module_vhost: str
) -> None:
    with running_ingress(tmp_path, demo_pki, module_vhost, drain_timeout=1.0) as ingress:
        control, data = ingress.storing("heartbeat/tx-cut")
        data.sendall(b"x" * 10_000)
        started = time.monotonic()
        ingress.handler.drain.request()
        assert _ended(ingress, timeout=10)
        assert time.monotonic() - started < 5
        assert control.closed_by_server()  # no 226: nothing was promised
        data.close()
