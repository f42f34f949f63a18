from __future__ import annotations

from gateway_ingress.limits import ClientLimits


def test_connections_per_ip() -> None:
    limits = ClientLimits(max_connections_per_ip=2, max_logins_per_minute=1)
    assert limits.connect("a")
    assert limits.connect("a")
    assert not limits.connect("a")
    assert limits.connect("b")
    limits.disconnect("a")
    assert limits.connect("a")


def test_logins_per_minute_slide() -> None:
    limits = ClientLimits(max_connections_per_ip=1, max_logins_per_minute=2)
    assert limits.login_attempt("a", now=0)
    assert limits.login_attempt("a", now=30)
    assert not limits.login_attempt("a", now=59)
    assert limits.login_attempt("b", now=59)
    assert limits.login_attempt("a", now=60.5), "the first attempt left the window"
    assert not limits.login_attempt("a", now=61)


def test_tls_handshakes_are_limited_per_address_and_minute() -> None:
    limits = ClientLimits(max_connections_per_ip=1, max_logins_per_minute=1, max_handshakes_per_minute=2)
    assert limits.handshake_attempt("a", now=0)
    assert limits.handshake_attempt("a", now=1)
    assert not limits.handshake_attempt("a", now=2)
    assert limits.handshake_attempt("b", now=2), "per address"
    assert limits.handshake_attempt("a", now=60.5)


def test_passive_listeners_are_limited_per_address() -> None:
    limits = ClientLimits(max_connections_per_ip=1, max_logins_per_minute=1, max_listeners_per_ip=1)
    assert limits.open_listener("a")
    assert not limits.open_listener("a")
    assert limits.open_listener("b")
    limits.close_listener("a")
    assert limits.open_listener("a")
