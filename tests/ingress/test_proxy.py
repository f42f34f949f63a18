"""PROXY protocol header parsing: exact-length reads, both versions, deny on anything odd."""

from __future__ import annotations

import socket

import pytest
from gateway_ingress.proxy import ProxyHeaderError, ProxyHeaderReader, is_trusted
from gateway_ingress.settings import IngressSettings

from tests.support.proxy import V2_SIGNATURE, v1_header, v2_header

CLIENT, BALANCER = ("203.0.113.7", 51000), ("198.51.100.1", 6371)
TLS_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"


def read(stream: bytes, mode: str = "auto") -> tuple[ProxyHeaderReader, bytes]:
    """Feed ``stream`` as the ingress does; return the reader and what it left unread."""
    reader = ProxyHeaderReader(mode)  # type: ignore[arg-type]
    position = 0
    while not reader.done:
        wanted = reader.wanted()
        assert wanted > 0
        reader.feed(stream[position : position + wanted])
        position += wanted
    return reader, stream[position:]


@pytest.mark.parametrize("header", [v1_header, v2_header])
def test_header_names_the_client_and_leaves_the_rest_unread(header) -> None:  # type: ignore[no-untyped-def]
    reader, rest = read(header(CLIENT, BALANCER) + TLS_HELLO)
    assert reader.source == CLIENT
    assert rest == TLS_HELLO


def test_v2_ipv6_and_local() -> None:
    addresses = socket.inet_pton(socket.AF_INET6, "2001:db8::7") + socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    body = addresses + (51000).to_bytes(2, "big") + (6371).to_bytes(2, "big")
    reader, _ = read(V2_SIGNATURE + bytes([0x21, 0x21]) + len(body).to_bytes(2, "big") + body)
    assert reader.source == ("2001:db8::7", 51000)
    local, _ = read(V2_SIGNATURE + bytes([0x20, 0x00, 0, 0]))
    assert local.done
    assert local.source is None
    unknown, _ = read(b"PROXY UNKNOWN\r\n")
    assert unknown.done
    assert unknown.source is None


@pytest.mark.parametrize(
    ("stream", "mode"),
    [
        (b"USER anonymous\r\n", "auto"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n", "auto"),
        (b"PROXY TCP4 1.2.3.999 5.6.7.8 80 90\r\n", "auto"),
        (b"PROXY TCP6 1.2.3.4 5.6.7.8 80 90\r\n", "auto"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 080 90\r\n", "auto"),
        (b"PROXY TCP4 " + b"1" * 120 + b"\r\n", "auto"),
        (v1_header(CLIENT, BALANCER), "v2"),
        (v2_header(CLIENT, BALANCER), "v1"),
        (V2_SIGNATURE + bytes([0x21, 0x11]) + (4000).to_bytes(2, "big"), "auto"),
        (V2_SIGNATURE + bytes([0x31, 0x11, 0, 0]), "auto"),
    ],
)
def test_malformed_or_unexpected_headers_are_refused(stream: bytes, mode: str) -> None:
    with pytest.raises(ProxyHeaderError):
        read(stream + b"\0" * 600, mode)


def test_closed_connection_inside_the_header() -> None:
    reader = ProxyHeaderReader("auto")
    reader.feed(b"PROXY ")
    with pytest.raises(ProxyHeaderError):
        reader.feed(b"")


def test_trusted_networks() -> None:
    settings = IngressSettings(proxy_trusted_cidrs=["10.0.0.0/8", "fd00::/8"])
    networks = settings.trusted_proxies()
    assert is_trusted("10.1.2.3", networks)
    assert is_trusted("::ffff:10.1.2.3", networks)
    assert is_trusted("fd00::1", networks)
    assert not is_trusted("11.0.0.1", networks)
    assert not is_trusted("not an address", networks)
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        IngressSettings(proxy_trusted_cidrs=["10.0.0.0/33"])


def test_trusted_networks_from_env_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    # Same convention as GATEWAY_CRL_FILES/CRL_URLS, and what the Helm chart renders.
    monkeypatch.setenv("GATEWAY_PROXY_TRUSTED_CIDRS", "10.0.0.0/16, fd00::/8")
    assert IngressSettings().proxy_trusted_cidrs == ["10.0.0.0/16", "fd00::/8"]
    monkeypatch.setenv("GATEWAY_PROXY_TRUSTED_CIDRS", '["10.0.0.0/16"]')
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        IngressSettings()
