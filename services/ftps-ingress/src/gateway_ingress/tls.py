"""The TLS context of control and data connections.

The handshake asks for a client certificate but never fails on a bad or missing one: the
certificate is judged at login (gateway_ingress.certificates), so the client gets a clear FTP
reply instead of a bare TLS alert it cannot read.
"""

from __future__ import annotations

from OpenSSL import SSL, crypto

from gateway_ingress.settings import IngressSettings


def _verify(conn: SSL.Connection, cert: crypto.X509, errnum: int, depth: int, ok: int) -> bool:
    # Judged at login by gateway_ingress.certificates, which can say why in an FTP reply.
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
    # Data connections may resume a session (cheaper than a full handshake); OpenSSL needs a
    # session id context for that once client certificates are requested. Every full handshake
    # caches a session holding the client's certificate chain (~14 KiB) until it times out, and
    # OpenSSL's size limit (20480, oldest evicted first) cannot be set through pyOpenSSL: the
    # timeout is what bounds the ingress's memory (README, "Storage: lifetimes"). An expired or
    # evicted session only costs the client a full handshake, which data connections accept
    # with the same certificate (control.py).
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
