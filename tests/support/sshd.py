"""A real OpenSSH server for the SFTP adapter's tests: Debian's sshd, unprivileged, on a free port.

It runs as the account ``gateway-sftp`` (made by ``make bootstrap``) when the tests run as root,
else as the current user, with its own host key and an authorized client key, key login only,
no root login, no shell, no forwarding: every session is ``internal-sftp`` started in
``files/``. An unprivileged sshd cannot chroot; the account can write nowhere but ``files/``
(and the machine's world-writable folders).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from tests.support.ports import free_port

SSHD = Path("/usr/sbin/sshd")
ACCOUNT = "gateway-sftp"


def _account() -> pwd.struct_passwd:
    return pwd.getpwnam(ACCOUNT) if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())


@dataclass
class SshServer:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="gateway-sftp-")))
    port: int = field(default_factory=free_port)
    user: pwd.struct_passwd = field(default_factory=_account)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.root.chmod(0o755)
        self.files.mkdir()
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self._write_private(self.root / "host_key", self.host_key)
        self._write_private(self.root / "client_key", self.client_key)
        (self.root / "authorized_keys").write_bytes(self.client_key.export_public_key())
        config = f"""
            Port {self.port}
            ListenAddress 127.0.0.1
            HostKey {self.root}/host_key
            PidFile none
            UsePAM no
            StrictModes no
            PermitRootLogin no
            AllowUsers {self.user.pw_name}
            AuthenticationMethods publickey
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            AuthorizedKeysFile {self.root}/authorized_keys
            Subsystem sftp internal-sftp
            ForceCommand internal-sftp -d {self.files}
            AllowTcpForwarding no
            AllowAgentForwarding no
            X11Forwarding no
            PermitTTY no
            LogLevel VERBOSE
        """
        (self.root / "sshd_config").write_text("\n".join(line.strip() for line in config.splitlines()) + "\n")
        for path in (self.root / "host_key", self.root / "authorized_keys", self.files):
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    @staticmethod
    def _write_private(path: Path, key: asyncssh.SSHKey) -> None:
        path.write_bytes(key.export_private_key())
        path.chmod(0o600)

    @property
    def files(self) -> Path:
        return self.root / "files"

    @property
    def log(self) -> str:
        path = self.root / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def options(self, **overrides: object) -> dict[str, object]:
        """SFTP route options that reach this server."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "username": self.user.pw_name,
            "private_key": f"file:{self.root}/client_key",
            "host_key": self.host_key.export_public_key().decode().strip(),
            "connect_timeout": 10,
        } | overrides

    def start(self) -> SshServer:
        if not SSHD.exists():
            raise RuntimeError("Debian's openssh-server is missing: run `make bootstrap`")
        with (self.root / "sshd.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(self.root / "sshd_config")],
                user=self.user.pw_uid,
                group=self.user.pw_gid,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}:\n{self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd not listening on {self.port}:\n{self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def delivered(self, gateway_txid: str) -> list[Path]:
        """Files in ``files/`` (any depth) whose name holds the transaction id, temporary ones included."""
        return sorted(p for p in self.files.rglob(f"*{gateway_txid}*") if p.is_file())
