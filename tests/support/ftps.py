"""Python's ftplib (no TLS session reuse on data connections) and raw control-connection helpers."""

from __future__ import annotations

import ftplib
import socket
import ssl
from pathlib import Path

from tests.support.clients import ClientCert


def tls_context(pki: Path, cert: ClientCert | None, *, check_hostname: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "server-ca.pem"))
    context.check_hostname = check_hostname
    if cert is not None:
        context.load_cert_chain(str(cert.pem), str(cert.key))
    return context


def ftplib_session(
    port: int,
    pki: Path,
    cert: ClientCert,
    *,
    host: str = "127.0.0.1",
    source: str = "127.0.0.1",
    timeout: float = 15,
) -> ftplib.FTP_TLS:
    """A logged-in ftplib session with PROT P. ftplib opens each data connection with a fresh
    handshake (no session reuse) that presents the same client certificate."""
    context = tls_context(pki, cert, check_hostname=host == "127.0.0.1")
    ftp = ftplib.FTP_TLS(context=context, timeout=timeout, source_address=(source, 0))
    ftp.connect(host, port)
    ftp.login("anonymous", "guest")
    ftp.prot_p()
    return ftp


def greeting(port: int, source: str = "127.0.0.1") -> str:
    """The first reply the server gives a new control connection from ``source``, which then closes."""
    control = Control(port, source=source)
    control.close()
    return control.greeting


class Control:
    """A bare control connection for commands no ordinary client would send."""

    def __init__(self, port: int, *, host: str = "127.0.0.1", source: str = "127.0.0.1", timeout: float = 10) -> None:
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection(
            (host, port), timeout=timeout, source_address=(source, 0)
        )
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def reply(self) -> str:
        lines = []
        while True:
            line = self.file.readline().decode()
            if not line:
                raise ConnectionError("connection closed: " + "".join(lines))
            lines.append(line)
            if len(line) >= 4 and line[3] == " " and line[:3].isdigit():
                return "".join(lines)

    def send(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def secure(self, pki: Path, cert: ClientCert | None) -> None:
        assert self.send("AUTH TLS").startswith("234")
        self.sock = tls_context(pki, cert).wrap_socket(self.sock, server_hostname="127.0.0.1")
        self.file = self.sock.makefile("rb")

    def login(self, pki: Path, cert: ClientCert) -> None:
        self.secure(pki, cert)
        assert self.send("USER anonymous").startswith("331")
        assert self.send("PASS guest").startswith("230")

    def protect(self) -> None:
        """PBSZ 0 and PROT P: what every client sends before it may open a data connection."""
        assert self.send("PBSZ 0").startswith("200")
        assert self.send("PROT P").startswith("200")

    def passive_port(self) -> int:
        reply = self.send("EPSV")
        assert reply.startswith("229"), reply
        return int(reply.split("|||")[1].split("|")[0])

    def closed_by_server(self) -> bool:
        try:
            return self.file.readline() == b""
        except (ConnectionError, ssl.SSLError):
            return True

    def close(self) -> None:
        # The reader holds the socket open too: without closing it the server would see no end.
        self.file.close()
        self.sock.close()
