"""tls.py: TLS 1.2 or newer, a certificate asked for but judged at login, sessions data connections resume."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from gateway_ingress.tls import build_context
from OpenSSL import SSL

from tests.support.ingress import tls_pair, tls_settings


def _client(pki: Path, name: str | None = "employee") -> SSL.Context:
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    if name is not None:
        context.use_certificate_chain_file(str(pki / "clients" / f"{name}.pem"))
        context.use_privatekey_file(str(pki / "clients" / f"{name}.key"))
    return context


def test_tls_below_1_2_gets_no_handshake(demo_pki: Path) -> None:
    old = _client(demo_pki)
    old.set_max_proto_version(SSL.TLS1_1_VERSION)
    old.set_min_proto_version(SSL.TLS1_VERSION)
    old.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
    with pytest.raises(SSL.Error):
        tls_pair(build_context(tls_settings(demo_pki)), old)


@pytest.mark.parametrize("name", [None, "foreign-ca", "self-signed", "expired"])
def test_any_or_no_client_certificate_completes_the_handshake(demo_pki: Path, name: str | None) -> None:
    # A bad certificate is refused at login with an FTP reply the client can read, not a TLS alert.
    server, _ = tls_pair(build_context(tls_settings(demo_pki)), _client(demo_pki, name))
    assert server.get_protocol_version_name() in ("TLSv1.2", "TLSv1.3")
    assert (server.get_peer_certificate() is None) == (name is None)


def test_the_certificate_request_names_the_trusted_client_cas(demo_pki: Path) -> None:
    _, client = tls_pair(build_context(tls_settings(demo_pki)), _client(demo_pki))
    named = {name.CN for name in client.get_client_ca_list()}
    trusted = x509.load_pem_x509_certificates((demo_pki / "client-ca.pem").read_bytes())
    assert named == {c.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value for c in trusted}


def test_sessions_outlive_openssls_default_and_no_tickets_are_issued(demo_pki: Path) -> None:
    # Resumption itself is proven with real clients in tests/e2e/test_data_channel.py.
    context = build_context(tls_settings(demo_pki, tls_session_timeout=7200))
    assert context.get_timeout() == 7200
    options = context.set_options(0)  # ORs nothing in; returns the options in force
    assert options & SSL.OP_NO_TICKET  # TLS 1.2 tickets would be sent unasked to uploading clients
    assert options & SSL.OP_NO_COMPRESSION
    assert options & SSL.OP_NO_RENEGOTIATION
