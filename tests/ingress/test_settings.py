"""settings.py: GATEWAY_* values the ingress refuses at start, and the forms lists and ranges take."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from gateway_ingress.settings import IngressSettings
from pydantic import ValidationError


def test_lists_come_comma_separated_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_CRL_URLS", "http://a.example/x.crl, https://b.example/y.crl,")
    monkeypatch.setenv("GATEWAY_PROXY_TRUSTED_CIDRS", "10.0.0.0/8 ,192.0.2.0/24")
    monkeypatch.setenv("GATEWAY_PASSIVE_PORTS", "40000-40009")
    settings = IngressSettings()
    assert settings.crl_urls == ["http://a.example/x.crl", "https://b.example/y.crl"]
    assert settings.trusted_proxies() == [ip_network("10.0.0.0/8"), ip_network("192.0.2.0/24")]
    assert settings.passive_port_range() == range(40000, 40010)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("passive_ports", "40000"),
        ("passive_ports", "40010-40000"),  # backwards
        ("passive_ports", "80-90"),  # privileged
        ("passive_ports", "65000-70000"),
        ("passive_ports", "a-b"),
        ("crl_urls", "ftp://a.example/x.crl"),
        ("crl_urls", "file:///etc/x.crl"),
        ("proxy_trusted_cidrs", "10.0.0.0/33"),
        ("proxy_trusted_cidrs", "10.0.0.1/8"),  # host bits set: a typo, not a network
        ("max_command_length", "32"),
        ("ocsp_mode", "maybe"),
    ],
)
def test_values_that_cannot_work_are_refused_at_start(monkeypatch: pytest.MonkeyPatch, field: str, value: str) -> None:
    monkeypatch.setenv(f"GATEWAY_{field.upper()}", value)
    with pytest.raises(ValidationError, match=field):
        IngressSettings()
