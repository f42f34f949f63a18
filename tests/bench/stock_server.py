"""Stock pyftpdlib FTPS (no client certificates, no hashing, no fsync): the throughput baseline."""

from __future__ import annotations

import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.servers import FTPServer


def main() -> None:
    port, root, cert, key, passive = sys.argv[1:6]
    authorizer = DummyAuthorizer()
    authorizer.add_user("bench", "bench", root, perm="elradfmw")
    handler = TLS_FTPHandler
    handler.certfile = cert
    handler.keyfile = key
    handler.authorizer = authorizer
    handler.tls_control_required = True
    handler.tls_data_required = True
    low, high = passive.split("-")
    handler.passive_ports = range(int(low), int(high) + 1)
    FTPServer(("127.0.0.1", int(port)), handler).serve_forever(handle_exit=True)


if __name__ == "__main__":
    main()
