"""The servers the bench compares, each started by the bench on loopback with free ports.

Every peer takes explicit FTPS with a client certificate from the same demo OCES PKI, TLS on
control and data, data connections resuming the control session, and anonymous login (the
gateway's identity is the certificate; the others check it at the handshake).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gateway_ingress.settings import IngressSettings

from tests.support.broker import private_vhost
from tests.support.gateway import SERVICES, Gateway
from tests.support.ports import free_port, free_port_range

CIPHERS: str = IngressSettings.model_fields["tls_ciphers"].default
# Enough passive ports for 64 clients with a transfer each plus the ports in TIME_WAIT's shadow.
PASSIVE_PORTS = 128
GATEWAY_TENANT = "company/30808460"  # the demo employee certificate's company
VSFTPD = shutil.which("vsftpd") or "/usr/sbin/vsftpd"


class Peer(Protocol):
    name: str
    port: int
    upload_dir: str  # FTP path that uploads go into, ending in "/"

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def pids(self) -> list[int]: ...
    def ftp_pids(self) -> list[int]:
        """The FTP server's process tree only: the gateway's ingress; the whole peer for the others."""

    def clear(self) -> None:
        """Remove what earlier workloads left (uploads, status files) so rounds start alike."""


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    import socket  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def _empty(directory: Path) -> None:
    for entry in directory.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


@dataclass
class GatewayPeer:
    """The whole gateway: ingress, router, status, both adapters (each a process), real broker."""

    work: Path
    pki: Path
    name: str = "gateway"
    upload_dir: str = "/heartbeat/"
    gateway: Gateway | None = None
    _vhost: object = None

    @property
    def port(self) -> int:
        return self.running.ftps_port

    @property
    def running(self) -> Gateway:
        if self.gateway is None:
            raise RuntimeError("gateway not started")
        return self.gateway

    @property
    def out(self) -> Path:
        return self.running.out_dir(GATEWAY_TENANT)

    def start(self) -> None:
        self._vhost = private_vhost()
        amqp_url = self._vhost.__enter__()  # type: ignore[attr-defined]
        self.gateway = Gateway(
            self.work / "gateway",
            self.pki,
            amqp_url,
            passive_ports=free_port_range(PASSIVE_PORTS),
            # 300 idle sessions from one address, and the status files of a whole workload in /out.
            # 16 clients from one address may all wait for their data connection at once (curl's
            # one-second stall after 229): more than the default 10 passive ports per address.
            extra_env={
                "GATEWAY_MAX_CONNECTIONS_PER_IP": "1000",
                "GATEWAY_MAX_PASSIVE_LISTENERS_PER_IP": "1000",
                "GATEWAY_MAX_CONNECTIONS": "1000",
                "GATEWAY_OUT_QUOTA_BYTES": str(1 << 30),
                "GATEWAY_LOG_LEVEL": "WARNING",
            },
        ).start()

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        if self._vhost is not None:
            self._vhost.__exit__(None, None, None)  # type: ignore[attr-defined]

    def pids(self) -> list[int]:
        return [self.running.procs[service].pid for service in SERVICES]

    def ftp_pids(self) -> list[int]:
        return [self.running.procs["ingress"].pid]

    def clear(self) -> None:
        # A client downloads and deletes its status files; /out growing across rounds would
        # make later rounds slower than earlier ones (see the README's growth table).
        if self.out.exists():
            _empty(self.out)


@dataclass
class _ServerProcess:
    """A peer that is one server process (and the sessions it forks), started on free ports."""

    work: Path
    pki: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    name: str = ""

    def command(self, passive: range) -> list[str]:
        raise NotImplementedError

    def launch(self) -> None:
        log_path = self.work / f"{self.name}.log"
        # Ports are free when chosen, not when bound: the gateway started meanwhile may hold one.
        for _attempt in range(5):
            self.port, passive = free_port(), free_port_range(PASSIVE_PORTS)
            with log_path.open("ab") as log:
                self.proc = subprocess.Popen(self.command(passive), stdout=log, stderr=log)
            try:
                _wait_for_port(self.port, self.proc)
                return
            except RuntimeError:
                continue
        raise RuntimeError(f"{self.name} did not start:\n{log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def ftp_pids(self) -> list[int]:
        return self.pids()


@dataclass
class StockPeer(_ServerProcess):
    """Stock pyftpdlib 2.2 TLS_FTPHandler (tests/bench/stock_server.py)."""

    name: str = "stock"
    upload_dir: str = "/"

    @property
    def root(self) -> Path:
        return self.work / "stock"

    def command(self, passive: range) -> list[str]:
        return [
            sys.executable,
            "-m",
            "tests.bench.stock_server",
            str(self.port),
            str(self.root),
            str(self.pki / "server.pem"),
            str(self.pki / "server.key"),
            str(self.pki / "client-ca.pem"),
            CIPHERS,
            f"{passive.start}-{passive.stop - 1}",
        ]

    def start(self) -> None:
        self.root.mkdir(exist_ok=True)
        self.launch()

    def clear(self) -> None:
        _empty(self.root)


VSFTPD_CONF = """\
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={port}
background=NO
run_as_launching_user=NO
anonymous_enable=YES
local_enable=NO
no_anon_password=YES
anon_root={root}
write_enable=YES
anon_upload_enable=YES
anon_mkdir_write_enable=YES
anon_umask=022
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port={pasv_min}
pasv_max_port={pasv_max}
connect_from_port_20=NO
ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=YES
force_anon_data_ssl=YES
ssl_tlsv1=YES
ssl_sslv2=NO
ssl_sslv3=NO
ssl_ciphers={ciphers}
rsa_cert_file={cert}
rsa_private_key_file={key}
require_cert=YES
validate_cert=YES
ca_certs_file={client_ca}
require_ssl_reuse=YES
secure_chroot_dir={empty}
nopriv_user={nopriv}
ftp_username={ftp_user}
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
max_clients=1000
max_per_ip=1000
xferlog_enable=NO
log_ftp_protocol=NO
dual_log_enable=NO
syslog_enable=NO
"""


@dataclass
class VsftpdPeer(_ServerProcess):
    """vsftpd from Debian (scripts/bench-setup.sh installs it), explicit TLS with client certificates.

    Anonymous uploads land in ``up/`` inside the chroot (``anon_root``), which stays owned by root
    and read-only: vsftpd refuses a chroot its session user can write to. Sessions drop to the
    ``ftp`` user that the Debian package creates.
    """

    name: str = "vsftpd"
    upload_dir: str = "/up/"

    @property
    def root(self) -> Path:
        return self.work / "vsftpd-root"

    def start(self) -> None:
        if not Path(VSFTPD).exists():
            raise RuntimeError("vsftpd is not installed: run scripts/bench-setup.sh (make bench does)")
        ftp = pwd.getpwnam("ftp")
        for directory in (self.root, self.work / "vsftpd-empty"):
            directory.mkdir(exist_ok=True)
            os.chmod(directory, 0o755)
        # vsftpd opens its files as root before chrooting: its parents must be reachable by ftp too.
        os.chmod(self.work, 0o755)
        up = self.root / "up"
        up.mkdir(exist_ok=True)
        os.chown(up, ftp.pw_uid, ftp.pw_gid)
        self.launch()

    def command(self, passive: range) -> list[str]:
        conf = self.work / "vsftpd.conf"
        conf.write_text(
            VSFTPD_CONF.format(
                port=self.port,
                root=self.root,
                pasv_min=passive.start,
                pasv_max=passive.stop - 1,
                ciphers=CIPHERS,
                cert=self.pki / "server.pem",
                key=self.pki / "server.key",
                client_ca=self.pki / "client-ca.pem",
                empty=self.work / "vsftpd-empty",
                nopriv="nobody",
                ftp_user="ftp",
            )
        )
        return [VSFTPD, str(conf)]

    def clear(self) -> None:
        _empty(self.root / "up")
