"""session.py: what every command group shares: refusals counted once, blocking work kept off the IO loop."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from gateway_ingress import replies
from gateway_ingress.control import MAX_PAUSED_LINES
from prometheus_client import REGISTRY

from tests.support.ingress import Ingress, running_ingress
from tests.support.waiting import eventually


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


# A STOR waits off the loop for the first measurement of the tenant's /out (the quota) before
# its reply: commands the client sent after it must still be answered after it, in order.
TENANT = "company/30808460"


@pytest.fixture
def unmeasured(tmp_path: Path, demo_pki: Path, module_vhost: str) -> Iterator[Ingress]:
    """An ingress that has not measured any tenant's /out yet (the quota is on by default)."""
    with running_ingress(tmp_path, demo_pki, module_vhost) as server:
        yield server


def test_abor_sent_right_after_a_stor_that_waits_for_the_quota_ends_that_stor(unmeasured: Ingress) -> None:
    control = unmeasured.control()
    control.protect()
    control.passive_port()
    control.sock.sendall(b"STOR heartbeat/tx-quota-abor\r\nABOR\r\n")
    assert control.reply().strip() == replies.DATA_OPENING()
    assert control.reply().strip() == replies.UPLOAD_ABORTED()
    assert control.reply().strip() == replies.ABOR_NOTHING_RUNNING()
    eventually(
        lambda: unmeasured.layout.find_reservation(TENANT, "heartbeat", "tx-quota-abor") is None, "the id was kept"
    )
    control.close()


def test_commands_sent_while_a_stor_waits_for_the_quota_are_answered_after_it(unmeasured: Ingress) -> None:
    control = unmeasured.control()
    control.protect()
    control.passive_port()
    control.sock.sendall(b"STOR heartbeat/tx-quota-a\r\nNOOP\r\nSTOR heartbeat/tx-quota-b\r\n")
    assert [control.reply().strip()[:3] for _ in range(4)] == ["150", "200", "425", "150"]
    assert control.send("NOOP").startswith("200")
    control.close()


def _large_out(ingress: Ingress) -> None:
    """5,000 files in the tenant's /out: its first measurement takes longer than one write's lines to arrive."""
    out = ingress.tenant_root(TENANT) / "out"
    out.mkdir(parents=True, exist_ok=True)
    for n in range(5000):
        (out / f"s{n}.xml").write_bytes(b"x")


def test_a_flood_of_commands_while_one_waits_closes_the_session_refused_once(unmeasured: Ingress) -> None:
    _large_out(unmeasured)
    before = _refusals("?", "too_many_waiting_commands")
    control = unmeasured.control()
    control.protect()
    control.passive_port()
    control.sock.sendall(b"STOR heartbeat/tx-quota-flood\r\n" + b"NOOP\r\n" * (MAX_PAUSED_LINES + 2000))
    replies_seen = []
    with contextlib.suppress(ConnectionError):
        while True:
            replies_seen.append(control.reply().strip())
    assert replies_seen[-1] == replies.TOO_MANY_WAITING_COMMANDS(limit=MAX_PAUSED_LINES), replies_seen[-3:]
    assert control.closed_by_server()
    assert _refusals("?", "too_many_waiting_commands") == before + 1


def test_no_waiting_command_runs_once_the_session_is_ending(unmeasured: Ingress) -> None:
    # The client stops reading, so the 421 cannot be sent at once and the session is closing,
    # not closed, when the measurement comes back: the STOR and the MKD queued before the 421
    # must not run then.
    _large_out(unmeasured)
    control = unmeasured.control()
    control.protect()
    control.passive_port()
    control.sock.sendall(b"HELP\r\n" * 20000)
    time.sleep(2)
    lines = [b"NOOP"] * (MAX_PAUSED_LINES - 1) + [b"MKD heartbeat/tx-after-flood", b"NOOP"]
    control.sock.sendall(b"STOR heartbeat/tx-quota-closing\r\n" + b"".join(line + b"\r\n" for line in lines))
    time.sleep(3)
    assert not list(unmeasured.tenant_root(TENANT).rglob("tx-after-flood"))
    assert unmeasured.layout.find_reservation(TENANT, "heartbeat", "tx-quota-closing") is None
    control.close()
