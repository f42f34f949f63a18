"""The control channel: one FTPS session from connect to close, and its TLS policy.

GatewayHandler is pyftpdlib's TLS_FTPHandler composed of the command groups in guidance.py,
login.py, upload.py, out.py, folders.py and after_upload.py; this module keeps what concerns the
connection itself (admission, limits, timeouts, TLS on control and data connections, active mode).
"""

from __future__ import annotations

from typing import Any

from gateway_common import metrics
from gateway_common.logging import get_logger
from OpenSSL import SSL

from gateway_ingress import replies
from gateway_ingress.after_upload import AfterUploadCommands
from gateway_ingress.data import GatewayDTPHandler
from gateway_ingress.folders import FolderCommands
from gateway_ingress.guidance import GuidanceCommands
from gateway_ingress.login import LoginCommands
from gateway_ingress.out import OutCommands
from gateway_ingress.passive import GatewayPassiveDTP, PassivePortRefused
from gateway_ingress.passive_reply import PassiveReplyTiming
from gateway_ingress.proxy import ProxyHeaderError, read_some
from gateway_ingress.upload import UploadCommands

log = get_logger(__name__)
# Command lines kept while one command waits off the loop before replying (the quota's first
# measurement of a tenant's /out takes milliseconds): a client sending more is flooding.
MAX_PAUSED_LINES = 64


class GatewayHandler(
    GuidanceCommands,
    LoginCommands,
    UploadCommands,
    OutCommands,
    FolderCommands,
    AfterUploadCommands,
    PassiveReplyTiming,
):
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

    # --- shutdown (drain.py)
    @property
    def busy(self) -> bool:
        return self._upload is not None or self._finalizing

    def end_for_shutdown(self) -> None:
        if self._ending:
            return
        self._ending = True
        if self.tls_handshaking or self._proxy_reader is not None:
            self.close()  # nobody to talk to yet: no reply is readable before TLS is up
            return
        self.respond(replies.SHUTTING_DOWN())
        self.close_when_done()

    def _admit(self) -> None:
        if self.drain.requested:
            self._refuse_connection(replies.SHUTTING_DOWN)
            return
        if not self.limits.connect(self.remote_ip):
            self._refuse_connection(
                replies.TOO_MANY_CONNECTIONS, ip=self.remote_ip, limit=self.limits.max_connections_per_ip
            )
            return
        self._counted_ip = self.remote_ip
        super().handle()

    def _refuse_connection(self, reply: replies.Reply, /, **fields: object) -> None:
        reason = reply.reason
        metrics.FTPS_CONNECTIONS_REFUSED.labels(reason=reason).inc()
        log.warning("connection refused", reason=reason, remote_ip=self.remote_ip)
        self.respond(reply(**fields))
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
            self._count_refusal(cmd, "not_permitted", f"{respcode} {respstr}")
        elif respcode == 550 and "outside the user's root directory" in respstr:
            self._count_refusal(cmd, "outside_view", f"{respcode} {respstr}")
        super().log_cmd(cmd, arg, respcode, respstr)

    def close(self) -> None:
        self._cancel_login_deadline()
        if self._counted_ip is not None:
            self.limits.disconnect(self._counted_ip)
            self._counted_ip = None
        super().close()

    def handle_timeout(self) -> None:
        if self._proxy_reader is not None or self.tls_handshaking:
            channel = "proxy_header" if self._proxy_reader is not None else "tls_handshake"
        else:
            channel = "control"
        metrics.FTPS_TIMEOUTS.labels(channel=channel).inc()
        log.info("connection timed out", channel=channel, remote_ip=self.remote_ip, timeout=self.timeout)
        if channel != "control":
            self.close()  # nobody to talk to: no reply is readable before TLS is up
            return
        self.respond(replies.IDLE_TIMEOUT(seconds=self.timeout))
        self.close_when_done()

    def _login_overdue(self) -> None:
        """GATEWAY_LOGIN_TIMEOUT after connect and not logged in: bare connections, stalled
        handshakes and AUTH TLS followed by nothing hold a slot for seconds, not minutes."""
        if self.authenticated or self.is_closed:
            return
        metrics.FTPS_TIMEOUTS.labels(channel="login").inc()
        log.info("not logged in in time", remote_ip=self.remote_ip, timeout=self.settings.login_timeout)
        if self._proxy_reader is not None or self.tls_handshaking:
            self.close()  # no reply is readable before TLS is up
            return
        self.respond(replies.LOGIN_TIMEOUT(seconds=self.settings.login_timeout))
        self.close_when_done()

    def handle_auth_success(self, home: str, password: str, msg_login: str) -> None:
        self._cancel_login_deadline()
        super().handle_auth_success(home, password, msg_login)

    def _cancel_login_deadline(self) -> None:
        if self._login_deadline is not None and not self._login_deadline.cancelled:
            self._login_deadline.cancel()

    def collect_incoming_data(self, data: bytes) -> None:
        # Replaces pyftpdlib's fixed 2048-byte limit, which answers and then keeps reading the rest.
        if self.buffer_command_bytes(data) > self.settings.max_command_length:
            self.discard_command_buffer()
            if not self._discarding_line:
                self._discarding_line = True
                self._refuse("?", replies.LINE_TOO_LONG, limit=self.settings.max_command_length)
                self.close_when_done()

    def found_terminator(self) -> None:
        if self._discarding_line:
            return
        if self._paused_lines is not None:
            if len(self._paused_lines) >= MAX_PAUSED_LINES:
                self.discard_command_buffer()
                self._paused_lines = None
                self._discarding_line = True  # what else this read holds is dropped unanswered
                self._refuse("?", replies.TOO_MANY_WAITING_COMMANDS, limit=MAX_PAUSED_LINES)
                self.close_when_done()
                return
            self.note_command_line()  # the client is there: a keepalive NOOP counts, though it waits
            self._paused_lines.append(self.take_command_line())
            return
        super().found_terminator()

    # --- TLS policy
    def process_command(self, cmd: str, *args: Any, **kwargs: Any) -> None:
        if cmd in ("USER", "PASS") and not self.tls_established:
            self._refuse(cmd, replies.TLS_REQUIRED)
            return
        if cmd in ("PASV", "EPSV", "PORT", "EPRT") and not self.data_protected:
            self._refuse(cmd, replies.PROT_P_REQUIRED)
            return
        super().process_command(cmd, *args, **kwargs)

    def ftp_AUTH(self, line: str) -> None:
        if not isinstance(self.socket, SSL.Connection) and not self.limits.handshake_attempt(self.remote_ip):
            limit = self.limits.max_handshakes_per_minute
            self._refuse_connection(replies.TLS_HANDSHAKE_RATE, ip=self.remote_ip, limit=limit)
            return
        super().ftp_AUTH(line)
        if self.tls_requested:
            # Whatever the client sent after AUTH TLS in the same segment came in plaintext and
            # must not be executed inside TLS (STARTTLS command injection, CVE-2011-0411).
            self.ac_in_buffer = b""
            self.discard_command_buffer()

    def ftp_PROT(self, line: str) -> None:
        if line.strip().upper() == "C":
            self._refuse("PROT", replies.CLEAR_DATA)
            return
        super().ftp_PROT(line)

    def ftp_CCC(self, line: str) -> None:
        self._refuse("CCC", replies.CLEAR_CONTROL)

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
            return replies.OTHER_CERTIFICATE.reason, replies.OTHER_CERTIFICATE()
        return None

    def data_refused(self, reason: str, detail: str, reply: str | None) -> None:
        metrics.FTPS_DATA_CONNECTIONS_REFUSED.labels(reason=reason).inc()
        log.warning("data connection refused", reason=reason, detail=detail, remote_ip=self.remote_ip)
        if reply is not None and self.connected:
            self.respond(reply)

    # --- passive mode
    def open_passive_listener(self, extmode: bool) -> None:
        try:
            super().open_passive_listener(extmode)
        except PassivePortRefused as refused:
            self._refuse("EPSV" if extmode else "PASV", refused.reply, **refused.fields)

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
        self._refuse(command, replies.ACTIVE_MODE_DISABLED)
        return True

    def connect_active(self, ip: str, port: int) -> None:
        remote_ip = self.remote_ip.removeprefix("::ffff:")
        if ip != remote_ip:
            self._refuse("PORT", replies.FOREIGN_ADDRESS, ip=remote_ip)
            return
        super().connect_active(ip, port)
