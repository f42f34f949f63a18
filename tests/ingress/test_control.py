"""control.py: the connection itself: TLS before login, protected data, time limits, line length, active mode."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_ingress import replies
from prometheus_client import REGISTRY

from tests.support.ftps import Control, tls_context
from tests.support.ingress import Ingress, running_ingress
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory, demo_pki: Path, module_vhost: str) -> Iterator[Ingress]:
    """A server with short time limits, a short line limit and active mode on."""
    with running_ingress(
        tmp_path_factory.mktemp("strict"),
        demo_pki,
        module_vhost,
        login_timeout=1,
        idle_timeout=3,  # 1.5 s from either deadline in the idling test below, for a loaded machine
        max_command_length=64,
        active_mode=True,
    ) as server:
        yield server


def test_login_is_refused_before_auth_tls(ingress: Ingress) -> None:
    control = ingress.control(None)
    assert control.send("USER anonymous").strip() == replies.TLS_REQUIRED()
    assert control.send("PASS guest").strip() == replies.TLS_REQUIRED()
    control.close()


def test_data_commands_wait_for_prot_p_and_prot_c_and_ccc_are_refused(ingress: Ingress) -> None:
    control = ingress.control()
    for command in ("EPSV", "PASV", "PORT 127,0,0,1,4,1"):
        assert control.send(command).strip() == replies.PROT_P_REQUIRED()
    assert control.send("PBSZ 0").startswith("200")
    assert control.send("PROT C").strip() == replies.CLEAR_DATA()
    assert control.send("EPSV").strip() == replies.PROT_P_REQUIRED()  # PROT C did not count
    assert control.send("CCC").strip() == replies.CLEAR_CONTROL()
    assert control.send("PROT P").startswith("200")
    assert control.send("EPSV").startswith("229")
    control.close()


def test_commands_sent_with_auth_tls_in_plaintext_are_not_run_inside_tls(ingress: Ingress) -> None:
    control = ingress.control(None)
    control.sock.sendall(b"AUTH TLS\r\nUSER injected\r\n")  # one segment (CVE-2011-0411)
    assert control.reply().startswith("234")
    # A reply to USER, had it run, would now be the first thing read inside TLS.
    control.sock = tls_context(ingress.pki, ingress.cert("employee")).wrap_socket(
        control.sock, server_hostname="127.0.0.1"
    )
    control.file = control.sock.makefile("rb")
    assert control.send("PASS guest").strip() == replies.USER_FIRST()  # USER injected never ran
    control.close()


def test_active_mode_is_refused_unless_enabled(ingress: Ingress) -> None:
    control = ingress.control()
    control.protect()
    assert control.send("PORT 127,0,0,1,4,1").strip() == replies.ACTIVE_MODE_DISABLED()
    assert control.send("EPRT |1|127.0.0.1|1025|").strip() == replies.ACTIVE_MODE_DISABLED()
    control.close()


def test_active_mode_goes_only_to_the_clients_own_address(strict: Ingress) -> None:
    control = strict.control()
    control.protect()
    assert control.send("PORT 10,0,0,1,4,1").strip() == replies.FOREIGN_ADDRESS(ip="127.0.0.1")
    assert control.send("EPRT |1|10.0.0.1|1025|").strip() == replies.FOREIGN_ADDRESS(ip="127.0.0.1")
    control.close()


def test_a_connection_not_logged_in_in_time_is_closed(strict: Ingress) -> None:
    bare = Control(strict.port)
    started = time.monotonic()
    assert bare.reply().strip() == replies.LOGIN_TIMEOUT(seconds=1)
    assert time.monotonic() - started < 5
    assert bare.closed_by_server()
    chatty = Control(strict.port)  # commands before login do not extend the deadline
    for _ in range(3):  # within 0.3 s of the 1 s deadline's start, so a loaded machine still makes it
        assert chatty.send("NOOP").startswith("200")
        time.sleep(0.1)
    assert chatty.reply().strip() == replies.LOGIN_TIMEOUT(seconds=1)


def test_a_logged_in_session_is_not_cut_by_the_login_deadline_but_by_idling(strict: Ingress) -> None:
    control = strict.control()
    time.sleep(1.5)  # past the login deadline
    assert control.send("NOOP").startswith("200")
    assert control.reply().strip() == replies.IDLE_TIMEOUT(seconds=3)
    assert control.closed_by_server()


def test_an_overlong_command_line_is_refused_once_and_the_connection_ends(strict: Ingress) -> None:
    control = strict.control(None)
    control.sock.sendall(b"NOOP " + b"x" * 200)  # no line end yet: the limit counts what is buffered
    assert control.reply().strip() == replies.LINE_TOO_LONG(limit=64)
    control.sock.sendall(b"x" * 200 + b"\r\nNOOP\r\n")
    assert control.closed_by_server()  # neither the rest of the line nor the next command ran


def test_auth_tls_over_the_per_address_handshake_rate_is_refused(
    tmp_path: Path, demo_pki: Path, module_vhost: str
) -> None:
    with running_ingress(tmp_path, demo_pki, module_vhost, max_tls_handshakes_per_minute_per_ip=1) as server:
        server.control("employee").close()
        second = Control(server.port)
        assert second.send("AUTH TLS").strip() == replies.TLS_HANDSHAKE_RATE(ip="127.0.0.1", limit=1)
        assert second.closed_by_server()


def test_the_session_gauge_follows_connections(ingress: Ingress) -> None:
    def active() -> float:
        return REGISTRY.get_sample_value("gateway_ftps_sessions_active") or 0.0

    before = active()
    control = ingress.control()
    eventually(lambda: active() == before + 1, "the session was not counted")
    control.close()
    eventually(lambda: active() == before, "the closed session was still counted")
