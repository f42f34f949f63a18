"""Real FTPS clients (curl with OpenSSL, lftp with GnuTLS) driven against a running gateway."""

from __future__ import annotations

import ftplib
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET


@dataclass(frozen=True)
class ClientCert:
    name: str
    pem: Path  # leaf followed by its intermediate
    key: Path

    @classmethod
    def from_pki(cls, pki: Path, name: str) -> ClientCert:
        return cls(name, pki / "clients" / f"{name}.pem", pki / "clients" / f"{name}.key")


def curl_command(
    port: int, pki: Path, cert: ClientCert | None, path: str, *args: str, timeout: float = 30
) -> list[str]:
    command = ["curl", "--silent", "--show-error", "--ssl-reqd", "--cacert", str(pki / "server-ca.pem")]
    if cert is not None:
        command += ["--cert", str(cert.pem), "--key", str(cert.key)]
    return [*command, "-u", "anonymous:guest", "--max-time", str(timeout), *args, f"ftp://127.0.0.1:{port}{path}"]


def curl(
    port: int, pki: Path, cert: ClientCert | None, path: str, *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    command = curl_command(port, pki, cert, path, *args, timeout=timeout)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout + 5, check=False)


def lftp(port: int, pki: Path, cert: ClientCert, script: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    settings = "; ".join(
        [
            f"set ssl:ca-file {pki / 'server-ca.pem'}",
            f"set ssl:cert-file {cert.pem}",
            f"set ssl:key-file {cert.key}",
            "set ftp:ssl-force true",
            "set ftp:ssl-protect-data true",
            "set ftp:ssl-protect-list true",
            "set ssl:verify-certificate yes",
            "set net:max-retries 1",
            "set net:timeout 15",
            "set cmd:fail-exit true",
        ]
    )
    command = ["lftp", "-c", f"{settings}; open -u anonymous,guest ftp://127.0.0.1:{port}; {script}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def read_status(path: Path) -> ET.Element:
    return ET.fromstring(path.read_bytes())


def wait_for_status(out_dir: Path, name: str, code: int, timeout: float = 15.0, poll: float = 0.05) -> ET.Element:
    """Wait until status file ``name`` in ``out_dir`` reports ``code``; return its XML root."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        path = out_dir / name
        if path.exists():
            root = read_status(path)
            last = root.findtext("StatusCode")
            if last == str(code):
                return root
        time.sleep(poll)
    raise AssertionError(f"{out_dir / name} did not reach status {code} within {timeout}s (last: {last})")


class SessionReusingFTP(ftplib.FTP_TLS):
    """ftplib whose data connections resume the control connection's TLS session, as curl, lftp and
    FileZilla do (plain ftplib cannot, see tests/support/ftps.py)."""

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            session = self.sock.session  # type: ignore[union-attr]
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=session)
        return conn, size


def ftps(port: int, pki: Path, cert: ClientCert, *, timeout: float = 15) -> ftplib.FTP_TLS:
    """A logged-in Python ftplib session, for exact commands and replies (paths curl would normalise)."""
    context = ssl.create_default_context(cafile=str(pki / "server-ca.pem"))
    context.load_cert_chain(str(cert.pem), str(cert.key))
    session = SessionReusingFTP(context=context, timeout=timeout)
    session.connect("127.0.0.1", port)
    session.login("anonymous", "guest")
    session.prot_p()
    return session
