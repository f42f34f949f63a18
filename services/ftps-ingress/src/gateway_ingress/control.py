"""The control channel: one FTPS session from connect to close, and its TLS policy.

GatewayHandler is pyftpdlib's TLS_FTPHandler composed of the command groups in login.py,
upload.py and out.py; this module keeps what concerns the connection itself (admission, limits,
timeouts, TLS on control and data connections, active mode) and the folder commands.
"""

from __future__ import annotations

import os
import time
from typing import Any

from gateway_common import metrics
from gateway_common.logging import get_logger
from OpenSSL import SSL

from gateway_ingress.data import GatewayDTPHandler
from gateway_ingress.login import LoginCommands
from gateway_ingress.out import OutCommands
from gateway_ingress.passive import GatewayPassiveDTP, PassivePortRefused
from gateway_ingress.proxy import ProxyHeaderError, read_some
from gateway_ingress.tenant import Area, NameRefused, check_name
from gateway_ingress.upload import UploadCommands

log = get_logger(__name__)


class GatewayHandler(LoginCommands, UploadCommands, OutCommands):
    dtp_handler = GatewayDTPHandler
    passive_dtp = GatewayPassiveDTP

    # --- connection lifecycle
    def handle(self) -> None:
        # A deadline from connect, not an idle timer: commands before login do not extend it.
        self._login_deadline = self.ioloop.call_later(
            self.settings.login_timeout, self._login_overdue, _errback=self.handle_error
        )
        if self._proxy_reader is None:
            self._admit()
        # else: admitted once the PROXY header has named the real client.

    def _admit(self) -> None:
        if not self.limits.connect(self.remote_ip):
            self._refuse_connection(
                "max_connections_per_ip",
                f"421 Too many connections from {self.remote_ip} "
                f"(limit {self.limits.max_connections_per_ip}); close some and try again.",
            )
            return
        self._counted_ip = self.remote_ip
        super().handle()

    def _refuse_connection(self, reason: str, reply: str) -> None:
        metrics.FTPS_CONNECTIONS_REFUSED.labels(reason=reason).inc()
        log.warning("connection refused", reason=reason, remote_ip=self.remote_ip)
        self.respond(reply)
        self.close_when_done()

    def handle_max_cons(self) -> None:
        metrics.FTPS_CONNECTIONS_REFUSED.labels(reason="max_connections").inc()
        log.warning("connection refused", reason="max_connections", remote_ip=self.remote_ip)
        super().handle_max_cons()

    def handle_read(self) -> None:
        if self._proxy_reader is None:
            super().handle_read()
            return
        try:
            if not read_some(self.socket, self._proxy_reader):
                return
        except ProxyHeaderError as exc:
            metrics.FTPS_CONNECTIONS_REFUSED.labels(reason="proxy_header").inc()
            log.warning("connection refused", reason="proxy_header", detail=str(exc), remote_ip=self.remote_ip)
            self.close()
            return
        source, self._proxy_reader = self._proxy_reader.source, None
        if source is not None:
            # pyftpdlib's address book must follow, or closing would leave the balancer's entry behind.
            self.server.ip_map.remove(self.remote_ip)
            self.remote_ip, self.remote_port = source
            self.server.ip_map.append(self.remote_ip)
        self._admit()

    def on_connect(self) -> None:
        self._session_counted = True
        metrics.FTPS_SESSIONS.inc()
        metrics.FTPS_SESSIONS_TOTAL.inc()

    def on_disconnect(self) -> None:
        if self._session_counted:
            self._session_counted = False
            metrics.FTPS_SESSIONS.dec()
        self._abandon_upload()

    def log_cmd(self, cmd: str, arg: str, respcode: int, respstr: str) -> None:
        # pyftpdlib refuses paths outside the view and missing permissions itself; count those too.
        if respcode == 550 and respstr == "Not enough privileges.":
            self._count_refusal(cmd, "not_permitted", f"550 {respstr}")
        elif respcode == 550 and "outside the user's root directory" in respstr:
            self._count_refusal(cmd, "outside_view", f"550 {respstr}")
        super().log_cmd(cmd, arg, respcode, respstr)

    def close(self) -> None:
        self._cancel_login_deadline()
        if self._counted_ip is not None:
            self.limits.disconnect(self._counted_ip)
            self._counted_ip = None
        super().close()

    def handle_timeout(self) -> None:
        if self._proxy_reader is not None or self._ssl_accepting:
            channel = "proxy_header" if self._proxy_reader is not None else "tls_handshake"
        else:
            channel = "control"
        metrics.FTPS_TIMEOUTS.labels(channel=channel).inc()
        log.info("connection timed out", channel=channel, remote_ip=self.remote_ip, timeout=self.timeout)
        if channel != "control":
            self.close()  # nobody to talk to: no reply is readable before TLS is up
            return
        self.respond(f"421 No command for {self.timeout} seconds; closing the control connection.")
        self.close_when_done()

    def _login_overdue(self) -> None:
        """GATEWAY_LOGIN_TIMEOUT after connect and not logged in: bare connections, stalled
        handshakes and AUTH TLS followed by nothing hold a slot for seconds, not minutes."""
        if self.authenticated or self._closed:
            return
        metrics.FTPS_TIMEOUTS.labels(channel="login").inc()
        log.info("not logged in in time", remote_ip=self.remote_ip, timeout=self.settings.login_timeout)
        if self._proxy_reader is not None or self._ssl_accepting:
            self.close()  # no reply is readable before TLS is up
            return
        self.respond(f"421 Not logged in within {self.settings.login_timeout} seconds; closing the control connection.")
        self.close_when_done()

    def handle_auth_success(self, home: str, password: str, msg_login: str) -> None:
        self._cancel_login_deadline()
        super().handle_auth_success(home, password, msg_login)

    def _cancel_login_deadline(self) -> None:
        if self._login_deadline is not None and not self._login_deadline.cancelled:
            self._login_deadline.cancel()

    def collect_incoming_data(self, data: bytes) -> None:
        # Replaces pyftpdlib's fixed 2048-byte limit, which answers and then keeps reading the rest.
        self._in_buffer.append(data)
        self._in_buffer_len += len(data)
        if self._in_buffer_len > self.settings.max_command_length:
            self._in_buffer, self._in_buffer_len = [], 0
            if not self._discarding_line:
                self._discarding_line = True
                self._refuse(
                    "?",
                    "line_too_long",
                    f"500 Command line longer than {self.settings.max_command_length} bytes; closing.",
                )
                self.close_when_done()

    def found_terminator(self) -> None:
        if not self._discarding_line:
            super().found_terminator()

    # --- TLS policy
    def process_command(self, cmd: str, *args: Any, **kwargs: Any) -> None:
        if cmd in ("USER", "PASS") and not self._ssl_established:
            self._refuse(
                cmd, "tls_required", "530 Log in over TLS only: send AUTH TLS first, then use your OCES certificate."
            )
            return
        if cmd in ("PASV", "EPSV", "PORT", "EPRT") and not self._prot:
            self._refuse(
                cmd, "prot_p_required", "521 Data connections must be encrypted: send PBSZ 0 and PROT P first."
            )
            return
        super().process_command(cmd, *args, **kwargs)

    def ftp_AUTH(self, line: str) -> None:
        if not isinstance(self.socket, SSL.Connection) and not self.limits.handshake_attempt(self.remote_ip):
            limit = self.limits.max_handshakes_per_minute
            self._refuse_connection(
                "tls_handshake_rate",
                f"421 Too many TLS handshakes from {self.remote_ip} (limit {limit} a minute); try again later.",
            )
            return
        super().ftp_AUTH(line)
        if self._ssl_requested:
            # Whatever the client sent after AUTH TLS in the same segment came in plaintext and
            # must not be executed inside TLS (STARTTLS command injection, CVE-2011-0411).
            self.ac_in_buffer = b""
            self._in_buffer, self._in_buffer_len = [], 0

    def ftp_PROT(self, line: str) -> None:
        if line.strip().upper() == "C":
            self._refuse("PROT", "clear_data", "534 PROT C refused: data connections must be encrypted; use PROT P.")
            return
        super().ftp_PROT(line)

    def ftp_CCC(self, line: str) -> None:
        self._refuse("CCC", "clear_control", "534 CCC refused: the control connection stays encrypted.")

    def data_tls_problem(self, data_conn: SSL.Connection) -> tuple[str, str] | None:
        """Why a data connection may not carry this session's data, or None.

        The data connection must come from the control connection's address (passive.py) and
        prove the control connection's client certificate: by a full handshake, which signs with
        its private key, or by resuming a session, which carries the certificate of the handshake
        that made it. A session issued to another client carries another certificate.
        docs/hardening.md explains why resuming the control session itself adds nothing to this.
        """
        control = self.socket.get_peer_certificate() if isinstance(self.socket, SSL.Connection) else None
        data = data_conn.get_peer_certificate()
        if control is None or data is None or control.digest("sha256") != data.digest("sha256"):
            return (
                "other_certificate",
                "522 Data connection refused: it must present the control connection's client certificate.",
            )
        return None

    def data_refused(self, reason: str, detail: str, reply: str | None) -> None:
        metrics.FTPS_DATA_CONNECTIONS_REFUSED.labels(reason=reason).inc()
        log.warning("data connection refused", reason=reason, detail=detail, remote_ip=self.remote_ip)
        if reply is not None and self.connected:
            self.respond(reply)

    # --- passive mode
    def _make_epasv(self, extmode: bool = False) -> None:
        try:
            super()._make_epasv(extmode)
        except PassivePortRefused as refused:
            self._refuse("EPSV" if extmode else "PASV", refused.reason, refused.reply)

    # --- active mode
    def ftp_PORT(self, line: str) -> None:
        if self._active_refused("PORT"):
            return
        super().ftp_PORT(line)

    def ftp_EPRT(self, line: str) -> None:
        if self._active_refused("EPRT"):
            return
        super().ftp_EPRT(line)

    def _active_refused(self, command: str) -> bool:
        if self.settings.active_mode:
            return False
        self._refuse(command, "active_mode_disabled", "502 Active mode is disabled; use passive mode (EPSV or PASV).")
        return True

    def _make_eport(self, ip: str, port: int) -> None:
        remote_ip = self.remote_ip.removeprefix("::ffff:")
        if ip != remote_ip:
            self._refuse(
                "PORT", "foreign_address", f"501 Refused: data connections go only to your own address ({remote_ip})."
            )
            return
        super()._make_eport(ip, port)

    # --- folders
    def ftp_MKD(self, path: str) -> str | None:
        assert self.view is not None
        area = self.view.area(path)
        if area is Area.SERVICE_ENTRY:
            try:
                txid = check_name(os.path.basename(path))
            except NameRefused as exc:
                self._refuse("MKD", "bad_name", f"553 {exc}.")
                return None
            if self._reservation(self.view, os.path.basename(os.path.dirname(path)), txid).exists():
                self._refuse(
                    "MKD", "duplicate_txid", f"553 Transaction id {txid!r} was already used; choose a new one."
                )
                return None
        result: str | None = super().ftp_MKD(path)
        return result

    def ftp_SIZE(self, path: str) -> str | None:
        recent = self.recent.get(path)
        if recent is not None and self._current_type != "a" and not self.fs.lexists(path):
            self.respond(f"213 {recent[0]}")
            return path
        result: str | None = super().ftp_SIZE(path)
        return result

    def ftp_MDTM(self, path: str) -> str | None:
        recent = self.recent.get(path)
        if recent is not None and not self.fs.lexists(path):
            self.respond(f"213 {time.strftime('%Y%m%d%H%M%S', time.gmtime(recent[1]))}")
            return path
        result: str | None = super().ftp_MDTM(path)
        return result
