"""The TLS context of control and data connections, and what the handshake learned about the client.

OpenSSL verifies the client's chain, but the handshake never fails on a bad or missing
certificate: the first verification error is recorded and the login is refused with a
clear FTP reply instead of a bare TLS alert the user cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from OpenSSL import SSL, crypto

from gateway_ingress.settings import IngressSettings

# OpenSSL X509_V_ERR_* codes -> refusal reasons in logs and metrics.
VERIFY_REASONS: dict[int, str] = {
    2: "unknown_ca",  # unable to get issuer certificate
    3: "crl_unavailable",
    4: "bad_signature",
    7: "bad_signature",
    9: "not_yet_valid",
    10: "expired",
    11: "crl_not_yet_valid",
    12: "crl_expired",
    18: "self_signed",
    19: "unknown_ca",  # self-signed certificate in chain
    20: "unknown_ca",  # unable to get local issuer certificate
    21: "unknown_ca",  # unable to verify the first certificate
    23: "revoked",
    24: "invalid_ca",
    26: "wrong_purpose",
}


@dataclass
class PeerVerification:
    """Attached to each SSL connection; filled in by OpenSSL's verify callback."""

    errors: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def reason(self) -> str | None:
        if not self.errors:
            return None
        code, _, _ = self.errors[0]
        return VERIFY_REASONS.get(code, "verification_failed")

    @property
    def detail(self) -> str:
        code, depth, subject = self.errors[0]
        return f"{_error_text(code)} (depth {depth}, {subject})"


def _error_text(code: int) -> str:
    # pyOpenSSL has no public wrapper for OpenSSL's message table.
    from OpenSSL._util import ffi, lib  # noqa: PLC0415

    text: bytes = ffi.string(lib.X509_verify_cert_error_string(code))
    return text.decode()


def session_reused(conn: SSL.Connection) -> bool:
    """Whether the handshake resumed a cached session (pyOpenSSL has no public wrapper)."""
    from OpenSSL._util import lib  # noqa: PLC0415

    return bool(lib.SSL_session_reused(conn._ssl))


def _verify(conn: SSL.Connection, cert: crypto.X509, errnum: int, depth: int, ok: int) -> bool:
    if not ok:
        record = conn.get_app_data()
        if isinstance(record, PeerVerification):
            subject = cert.get_subject().CN or "?"
            record.errors.append((errnum, depth, subject))
    return True


def build_context(settings: IngressSettings) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_options(
        SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE | SSL.OP_NO_RENEGOTIATION | SSL.OP_NO_TICKET
    )
    ctx.set_cipher_list(settings.tls_ciphers.encode())
    ctx.use_certificate_chain_file(str(settings.tls_cert_file))
    ctx.use_privatekey_file(str(settings.tls_key_file))
    ctx.check_privatekey()
    ctx.load_verify_locations(str(settings.client_ca_file))
    ctx.set_verify(SSL.VERIFY_PEER, _verify)
    ctx.set_verify_depth(6)
    # Data connections resume the control connection's session; OpenSSL needs a session id
    # context for that once client certificates are requested, and the cache must outlive
    # OpenSSL's 300 s default or long sessions lose their later transfers. The cache keeps
    # OpenSSL's default size (20480 sessions, oldest evicted first); pyOpenSSL cannot set it.
    ctx.set_session_id(b"ftps-gateway")
    ctx.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
    ctx.set_timeout(settings.tls_session_timeout)
    with settings.client_ca_file.open("rb") as handle:
        pem = handle.read()
    names = [crypto.load_certificate(crypto.FILETYPE_PEM, block).get_subject() for block in _pem_blocks(pem)]
    ctx.set_client_ca_list(names)
    return ctx


def _pem_blocks(data: bytes) -> list[bytes]:
    marker = b"-----END CERTIFICATE-----"
    return [chunk + marker for chunk in data.split(marker) if b"-----BEGIN CERTIFICATE-----" in chunk]
