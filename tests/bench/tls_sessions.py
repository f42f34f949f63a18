"""Memory of the ingress's TLS session cache: what one full handshake keeps, and where it levels off.

    .venv/bin/python -m tests.bench.tls_sessions [HANDSHAKES] [TIMEOUT_SECONDS|off]

Accepts HANDSHAKES full TLS 1.2 handshakes (an OCES client certificate, as a data connection
makes them) from a client process, with the ingress's own TLS context (gateway_ingress.tls) and
GATEWAY_TLS_SESSION_TIMEOUT = TIMEOUT_SECONDS (default 300), or with the session cache off. Prints
the server process's RSS and the bytes malloc holds, ten times over the run; asserts nothing.
"""

from __future__ import annotations

import ctypes
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gateway_ingress.settings import IngressSettings
from gateway_ingress.tls import build_context
from gateway_pki.demo import build_demo
from OpenSSL import SSL


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


_LIBC = ctypes.CDLL("libc.so.6")
_LIBC.mallinfo2.restype = _MallInfo2


def malloc_in_use() -> int:
    info = _LIBC.mallinfo2()
    return int(info.uordblks + info.hblkhd)


def rss() -> int:
    status = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) * 1024


def client(pki: Path, port: int, count: int) -> None:
    context = ssl.create_default_context(cafile=str(pki / "server-ca.pem"))
    context.load_cert_chain(str(pki / "clients" / "employee.pem"), str(pki / "clients" / "employee.key"))
    context.maximum_version = ssl.TLSVersion.TLSv1_2  # the ingress's data connections
    for _ in range(count):
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as conn,
        ):
            conn.sendall(b"x")
            conn.recv(1)


def server(pki: Path, count: int, timeout: str) -> None:
    settings = IngressSettings(
        tls_cert_file=pki / "server.pem",
        tls_key_file=pki / "server.key",
        client_ca_file=pki / "client-ca.pem",
        tls_session_timeout=300 if timeout == "off" else int(timeout),
    )
    context = build_context(settings)
    if timeout == "off":
        context.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    peer = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.tls_sessions", "--client", str(pki), str(port), str(count)]
    )
    rss_start, malloc_start, started = rss(), malloc_in_use(), time.monotonic()
    print(f"session timeout {timeout}: RSS {rss_start / 2**20:.0f} MiB at the start")
    for n in range(1, count + 1):
        raw, _ = listener.accept()
        conn = SSL.Connection(context, raw)
        conn.set_accept_state()
        conn.do_handshake()
        conn.recv(1)
        conn.send(b"y")
        # A clean close_notify, as an upload's data connection ends: OpenSSL drops the session of
        # a connection that ends without one from its cache.
        conn.shutdown()
        raw.close()
        if n % max(count // 10, 1) == 0:
            held = malloc_in_use() - malloc_start
            print(
                f"{n:7d} handshakes: RSS {(rss() - rss_start) / 2**20:+7.1f} MiB, malloc holds "
                f"{held / 2**20:+7.1f} MiB ({held / n / 1024:5.2f} KiB a handshake), "
                f"{time.monotonic() - started:4.0f} s"
            )
    peer.wait()


def main() -> None:
    if sys.argv[1:2] == ["--client"]:
        client(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 25_000
    timeout = sys.argv[2] if len(sys.argv) > 2 else "300"
    os.environ.setdefault("GATEWAY_DEMO", "true")  # settings refuse the broker's guest account otherwise
    with tempfile.TemporaryDirectory() as directory:
        build_demo(Path(directory))
        server(Path(directory), count, timeout)


if __name__ == "__main__":
    main()
