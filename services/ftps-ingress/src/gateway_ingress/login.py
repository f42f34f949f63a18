"""Deciding who may log in: the certificate is the identity; USER and PASS are ignored."""

from __future__ import annotations

from gateway_common.identity import Identity, IdentityError, identify
from OpenSSL import SSL

from gateway_ingress.tls import PeerVerification


class LoginRefused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def authenticate(connection: object) -> Identity:
    """Return the identity of the client on ``connection`` or raise LoginRefused."""
    if not isinstance(connection, SSL.Connection):
        raise LoginRefused("no_tls", "Use AUTH TLS before logging in.")
    peer = connection.get_peer_certificate()
    if peer is None:
        raise LoginRefused("no_certificate", "A client certificate is required: log in with your OCES certificate.")
    verification = connection.get_app_data()
    if isinstance(verification, PeerVerification) and verification.reason is not None:
        raise LoginRefused(verification.reason, f"Your certificate was refused: {verification.detail}.")
    try:
        return identify(peer.to_cryptography())
    except IdentityError as exc:
        raise LoginRefused(
            exc.reason, f"Your certificate is not an OCES certificate the gateway accepts: {exc.detail}."
        ) from exc
