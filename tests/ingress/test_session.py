"""session.py: what every command group shares: refusals counted once, blocking work kept off the IO loop."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path

from gateway_ingress import replies
from prometheus_client import REGISTRY

from tests.support.ingress import Ingress, running_ingress


def _refusals(command: str, reason: str) -> float:
    return REGISTRY.get_sample_value("gateway_ftps_refusals_total", {"command": command, "reason": reason}) or 0.0


def test_a_refusal_is_answered_and_counted_once_by_command_and_reason(ingress: Ingress) -> None:
    before = _refusals("CCC", "clear_control"), _refusals("STOU", "unsupported")
    control = ingress.control()
    assert control.send("CCC").strip() == replies.CLEAR_CONTROL()
    assert control.send("STOU").strip() == replies.STOU_UNSUPPORTED()
    assert control.send("CCC").strip() == replies.CLEAR_CONTROL()
    assert (_refusals("CCC", "clear_control"), _refusals("STOU", "unsupported")) == (before[0] + 2, before[1] + 1)
    control.close()


def test_blocking_work_runs_off_the_io_loop_and_its_reply_back_on_it(ingress: Ingress) -> None:
    control = ingress.control()
    (session,) = ingress.sessions()
    threads: dict[str, str] = {}
    answered: Future[int] = Future()

    def blocking() -> int:
        threads["work"] = threading.current_thread().name
        return 42

    def then(done: Future[int]) -> None:
        threads["then"] = threading.current_thread().name
        answered.set_result(done.result())

    ingress.on_loop(lambda: session.off_loop(blocking, then=then))
    assert answered.result(10) == 42
    assert threads["then"] == ingress.thread.name
    assert threads["work"] != ingress.thread.name
    control.close()


def test_only_trusted_balancers_are_expected_to_send_a_proxy_header(
    tmp_path: Path, demo_pki: Path, module_vhost: str, ingress: Ingress
) -> None:
    control = ingress.control(None)
    (plain,) = ingress.sessions()
    assert not plain.behind_proxy("127.0.0.1")  # proxy_protocol is off
    control.close()
    with running_ingress(
        tmp_path, demo_pki, module_vhost, proxy_protocol="v1", proxy_trusted_cidrs=["10.0.0.0/8"]
    ) as server:
        direct = server.control("employee")  # 127.0.0.1 is no balancer: no header expected, login works
        (session,) = server.sessions()
        assert session.behind_proxy("10.1.2.3")
        assert not session.behind_proxy("127.0.0.1")
        assert not session.behind_proxy("11.0.0.1")
        direct.close()
