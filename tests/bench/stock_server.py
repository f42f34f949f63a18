"""Stock pyftpdlib FTPS with client certificates required (no hashing, no fsync, no publishing):
the baseline of the same Python and the same TLS library (pyOpenSSL) as the gateway."""

from __future__ import annotations

import sys

from OpenSSL import SSL
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.servers import FTPServer


def context(cert: str, key: str, client_ca: str, ciphers: str) -> SSL.Context:
    """The gateway's TLS settings, except that a missing or untrusted certificate fails the handshake."""
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE | SSL.OP_NO_TICKET)
    ctx.set_cipher_list(ciphers.encode())
    ctx.use_certificate_chain_file(cert)
    ctx.use_privatekey_file(key)
    ctx.load_verify_locations(client_ca)
    ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda _c, _x, _e, _d, ok: bool(ok))
    ctx.set_verify_depth(6)
    # Data connections resume the control connection's session, as on the gateway.
    ctx.set_session_id(b"stock-pyftpdlib")
    ctx.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
    return ctx


def main() -> None:
    port, root, cert, key, client_ca, ciphers, passive = sys.argv[1:8]
    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(root, perm="elradfmw")
    handler = TLS_FTPHandler
    handler.ssl_context = context(cert, key, client_ca, ciphers)
    handler.authorizer = authorizer
    handler.tls_control_required = True
    handler.tls_data_required = True
    low, high = passive.split("-")
    handler.passive_ports = range(int(low), int(high) + 1)
    FTPServer(("127.0.0.1", int(port)), handler).serve_forever(handle_exit=True)


if __name__ == "__main__":
    main()
