"""Deciding who may log in: the certificate is the identity; USER and PASS are ignored."""

from __future__ import annotations

from OpenSSL import SSL

from gateway_ingress.certificates import Accepted, CertificateRefused, CertificateValidator


class LoginRefused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def authenticate(connection: object, validator: CertificateValidator) -> Accepted:
    """Validate the certificate of the client on ``connection`` or raise LoginRefused."""
    if not isinstance(connection, SSL.Connection):
        raise LoginRefused("no_tls", "Use AUTH TLS before logging in.")
    peer = connection.get_peer_certificate(as_cryptography=True)
    if peer is None:
        raise LoginRefused("no_certificate", "A client certificate is required: log in with your OCES certificate.")
    sent = connection.get_peer_cert_chain(as_cryptography=True) or []
    try:
        return validator.validate(peer, sent)
    except CertificateRefused as exc:
        raise LoginRefused(exc.reason, f"Your certificate was refused ({exc.reason}): {exc.detail}.") from exc
