"""The FTPS command handler: certificate login, tenant views, uploads that leave at once.

Built on pyftpdlib's extension points: a TLS_FTPHandler subclass, a custom AbstractedFS and a
per-session authorizer. Replies to finished uploads are deferred until the payload and its
event are durable; that work runs in the pipeline thread, never on the FTP IO loop.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import socket
import sys
import time
from concurrent.futures import Future
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any, ClassVar

from gateway_common import metrics
from gateway_common.events import new_id
from gateway_common.identity import Identity, IdentityError, identify
from gateway_common.logging import get_logger
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.routes import RouteTableSource
from gateway_common.storage import StorageLayout
from OpenSSL import SSL
from pyftpdlib.handlers import TLS_DTPHandler, TLS_FTPHandler
from pyftpdlib.handlers.ftp.dispatchers import PassiveDTP
from pyftpdlib.log import logger as ftp_logger

from gateway_ingress.certificates import CertificateValidator
from gateway_ingress.drain import SHUTDOWN_REPLY, Drain
from gateway_ingress.filesystem import GatewayFS, NoLoginAuthorizer, SessionAuthorizer
from gateway_ingress.limits import ClientLimits
from gateway_ingress.login import LoginRefused, authenticate
from gateway_ingress.ocsp import Answer
from gateway_ingress.pipeline import PendingUpload, UploadPipeline
from gateway_ingress.proxy import ProxyDataGate, ProxyHeaderError, ProxyHeaderReader, is_trusted, read_some
from gateway_ingress.recent import RecentUploads
from gateway_ingress.settings import IngressSettings
from gateway_ingress.spool import FileTooLarge, SpoolWriter
from gateway_ingress.tenant import OUT, Area, NameRefused, TenantView, check_name
from gateway_ingress.tls import session_reused
from gateway_ingress.waker import Waker

log = get_logger(__name__)
_HASH_CHUNK = 1 << 20


class GatewayPassiveDTP(PassiveDTP):  # type: ignore[misc]
    """Passive data listener: PROXY header first when the peer is a trusted balancer; refusals counted."""

    cmd_channel: GatewayHandler

    def handle_accepted(self, sock: socket.socket, addr: tuple[Any, ...]) -> None:
        channel = self.cmd_channel
        if channel.behind_proxy(addr[0]):
            ProxyDataGate(
                sock,
                channel.settings.proxy_protocol,
                channel.settings.data_timeout,
                self.ioloop,
                lambda conn, source: self._admit(conn, source or (addr[0], addr[1])),
                lambda reason: channel.data_refused(
                    "proxy_header", reason, "425 Data connection refused: the load balancer sent no valid PROXY header."
                ),
            )
            return
        self._admit(sock, (addr[0], addr[1]))

    def _admit(self, sock: socket.socket, addr: tuple[str, int]) -> None:
        channel = self.cmd_channel
        if self._closed or not channel.connected or channel.data_channel is not None:
            # A PROXY gate finished after the listener closed, or after another data connection
            # was admitted: one data connection per transfer, never a replacement.
            sock.close()
            return
        if addr[0] != channel.remote_ip:
            # pyftpdlib refuses it below with "425 Rejected data connection from foreign address".
            channel.data_refused("foreign_address", f"data connection from {addr[0]}", None)
        super().handle_accepted(sock, addr)


class GatewayDTPHandler(TLS_DTPHandler):  # type: ignore[misc]
    _ssl_requested: bool
    _ssl_established: bool
    cmd_channel: GatewayHandler

    # pyftpdlib sets the reply on several close paths (TLS shutdown, EOF, handle_close); for a
    # finished upload the 226 must wait until it is durable: GatewayHandler.on_file_received sends it.
    @property
    def _resp(self) -> tuple[Any, ...]:
        resp: tuple[Any, ...] = self.__dict__.get("_gateway_resp", ())
        return resp

    @_resp.setter
    def _resp(self, value: tuple[Any, ...]) -> None:
        if (
            value
            and value[0].startswith("226")
            and getattr(self, "receive", False)
            and isinstance(getattr(self, "file_obj", None), SpoolWriter)
        ):
            value = () if self._ended_by_client() else self._cut_off()
        self.__dict__["_gateway_resp"] = value

    def _ended_by_client(self) -> bool:
        """Whether the upload ended with the client's TLS close_notify, not a bare TCP close.

        A FIN or reset can come from a middlebox or an attacker and would pass a truncated
        file off as complete (vsftpd's strict_ssl_read_eof).
        """
        if not self.cmd_channel.settings.tls_require_close_notify or not isinstance(self.socket, SSL.Connection):
            return True
        return bool(self.socket.get_shutdown() & SSL.RECEIVED_SHUTDOWN)

    def _cut_off(self) -> tuple[Any, ...]:
        self.transfer_finished = False  # so pyftpdlib reports it incomplete and the spool file goes
        metrics.FTPS_COMMAND_REFUSALS.labels(command="STOR", reason="no_close_notify").inc()
        log.warning("upload ended without TLS close_notify; discarded", remote_ip=self.cmd_channel.remote_ip)
        return (
            "426 Upload refused: the data connection closed without a TLS close_notify, so the file may be "
            "incomplete; nothing was kept. Upload it again.",
            ftp_logger.warning,
        )

    def send(self, data: bytes) -> int:
        # Nothing goes out before the handshake has been checked: SSL_write would otherwise
        # complete the handshake itself and the listing or file would bypass the checks.
        # Sending nothing keeps the data queued; pyftpdlib drives the handshake meanwhile.
        if self._ssl_requested and not self._ssl_established:
            return 0
        sent: int = super().send(data)
        return sent

    def handle_ssl_established(self) -> None:
        problem = self.cmd_channel.data_tls_problem(self.socket)
        if problem is not None:
            reason, reply = problem
            self.cmd_channel.data_refused(reason, reply, reply)
            self.close()

    def handle_timeout(self) -> None:
        metrics.FTPS_TIMEOUTS.labels(channel="data").inc()
        log.info("data connection stalled", remote_ip=self.cmd_channel.remote_ip, timeout=self.timeout)
        super().handle_timeout()

    def handle_error(self) -> None:
        # pyftpdlib wraps errors of file_obj.write; its TLS mixin would close without any reply.
        error = sys.exc_info()[1]
        cause = error.__cause__ if error is not None else None
        if not (self.receive and isinstance(cause, OSError)):
            super().handle_error()
            return
        if isinstance(cause, FileTooLarge):
            metrics.FTPS_COMMAND_REFUSALS.labels(command="STOR", reason="file_too_large").inc()
            log.warning("upload over the size limit", remote_ip=self.cmd_channel.remote_ip, limit=cause.limit)
            reply = (
                f"552 Upload refused: the file exceeds this service's size limit of {cause.limit} bytes; "
                "nothing was kept."
            )
        else:
            # RFC 959: 452 for insufficient storage (a full disk, a failing volume).
            metrics.FTPS_COMMAND_REFUSALS.labels(command="STOR", reason="storage").inc()
            detail = cause.strerror or _reason(cause)
            log.error("upload could not be written", remote_ip=self.cmd_channel.remote_ip, error=repr(cause))
            reply = f"452 Upload refused: {detail}; nothing was kept. Please upload again later."
        self._resp = (reply, ftp_logger.warning)
        self.close()


class GatewayHandler(TLS_FTPHandler):  # type: ignore[misc]
    tls_control_required = True
    tls_data_required = True
    dtp_handler = GatewayDTPHandler
    passive_dtp = GatewayPassiveDTP
    abstracted_fs = GatewayFS
    authorizer: SessionAuthorizer = NoLoginAuthorizer()
    _restart_position: int
    _prot: bool
    _ssl_accepting: bool
    _ssl_established: bool
    _in_buffer: list[bytes]
    _in_buffer_len: int
    remote_ip: str
    remote_port: int
    use_sendfile = False
    proto_cmds = TLS_FTPHandler.proto_cmds.copy()
    proto_cmds.update(
        {
            "CCC": {"perm": None, "auth": False, "arg": False, "help": "Syntax: CCC (refused: TLS stays on)."},
            "HASH": {"perm": "r", "auth": True, "arg": True, "help": "Syntax: HASH <SP> file-name (SHA-256)."},
            "XSHA256": {"perm": "r", "auth": True, "arg": True, "help": "Syntax: XSHA256 <SP> file-name."},
        }
    )

    # Set by build_server() on a subclass per server.
    settings: ClassVar[IngressSettings]
    layout: ClassVar[StorageLayout]
    routes: ClassVar[RouteTableSource]
    pipeline: ClassVar[UploadPipeline]
    waker: ClassVar[Waker]
    validator: ClassVar[CertificateValidator]
    recent: ClassVar[RecentUploads]
    limits: ClassVar[ClientLimits]
    drain: ClassVar[Drain]
    trusted_proxies: ClassVar[list[IPv4Network | IPv6Network]]

    def __init__(self, conn: Any, server: Any, ioloop: Any = None) -> None:
        self.identity: Identity | None = None
        self.view: TenantView | None = None
        self._upload: PendingUpload | None = None
        self._hashing = False
        self._finalizing = False
        self._ending = False
        self._login_pending = False
        self._upload_path = ""  # the client's path of self._upload, for SIZE/MDTM afterwards
        self._proxy_reader: ProxyHeaderReader | None = None
        self._counted_ip: str | None = None
        self._session_counted = False
        self._discarding_line = False
        super().__init__(conn, server, ioloop)
        if self.connected and self.behind_proxy(self.remote_ip):
            self._proxy_reader = ProxyHeaderReader(self.settings.proxy_protocol)
        if self.connected:
            self._extra_feats.append("HASH SHA-256*")

    def behind_proxy(self, peer_ip: str) -> bool:
        return self.settings.proxy_protocol != "off" and is_trusted(peer_ip, self.trusted_proxies)

    # --- connection lifecycle
    def handle(self) -> None:
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
        if self._ssl_accepting or self._proxy_reader is not None:
            self.close()  # nobody to talk to yet: no reply is readable before TLS is up
            return
        self.respond(SHUTDOWN_REPLY)
        self.close_when_done()

    def _admit(self) -> None:
        if self.drain.requested:
            self._refuse_connection("shutting_down", SHUTDOWN_REPLY)
            return
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

    def _refuse(self, command: str, reason: str, reply: str) -> None:
        self._count_refusal(command, reason, reply)
        self.respond(reply)

    def _count_refusal(self, command: str, reason: str, reply: str) -> None:
        metrics.FTPS_COMMAND_REFUSALS.labels(command=command, reason=reason).inc()
        tenant = self.identity.tenant if self.identity is not None else None
        log.info(
            "command refused", command=command, reason=reason, reply=reply, tenant=tenant, remote_ip=self.remote_ip
        )

    def log_cmd(self, cmd: str, arg: str, respcode: int, respstr: str) -> None:
        # pyftpdlib refuses paths outside the view and missing permissions itself; count those too.
        if respcode == 550 and respstr == "Not enough privileges.":
            self._count_refusal(cmd, "not_permitted", f"550 {respstr}")
        elif respcode == 550 and "outside the user's root directory" in respstr:
            self._count_refusal(cmd, "outside_view", f"550 {respstr}")
        super().log_cmd(cmd, arg, respcode, respstr)

    def close(self) -> None:
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

    def ftp_PROT(self, line: str) -> None:
        if line.strip().upper() == "C":
            self._refuse("PROT", "clear_data", "534 PROT C refused: data connections must be encrypted; use PROT P.")
            return
        super().ftp_PROT(line)

    def ftp_CCC(self, line: str) -> None:
        self._refuse("CCC", "clear_control", "534 CCC refused: the control connection stays encrypted.")

    def data_tls_problem(self, data_conn: SSL.Connection) -> tuple[str, str] | None:
        """Why a data connection may not carry this session's data, or None.

        Reuse of a TLS session proves the data connection comes from the holder of a session
        this server issued; the same certificate proves it was issued to this session's client.
        """
        if self.settings.tls_require_session_reuse and not session_reused(data_conn):
            return (
                "no_session_reuse",
                "522 Data connection refused: it must resume the control connection's TLS session "
                "(TLS session reuse is required; enable it in your FTPS client).",
            )
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

    # --- login
    def ftp_PASS(self, line: str) -> None:
        if self.authenticated:
            self.respond("503 User already authenticated.")
            return
        if self._login_pending:
            self.respond("503 Login in progress.")
            return
        if not self.username:
            self.respond("503 Login with USER first.")
            return
        if not self.limits.login_attempt(self.remote_ip):
            metrics.FTPS_LOGINS.labels(result="refused", reason="rate_limited", kind="unknown").inc()
            log.warning("login refused", reason="rate_limited", remote_ip=self.remote_ip)
            self.respond(
                f"421 Too many logins from {self.remote_ip} "
                f"(limit {self.limits.max_logins_per_minute} a minute); try again later."
            )
            self.close_when_done()
            return
        try:
            accepted = authenticate(self.socket, self.validator)
        except LoginRefused as exc:
            self._refuse_login(exc.reason, exc.detail)
            return
        ocsp = self.validator.ocsp
        if ocsp is None or len(accepted.chain) < 2:
            self._complete_login(accepted.identity, line)
            return
        leaf, issuer = accepted.chain[0], accepted.chain[1]
        answer = ocsp.cached(leaf)
        if answer is not None:
            self._ocsp_decides(accepted.identity, line, answer)
            return
        # The responder is asked in the pipeline thread; the reply to PASS waits for it.
        self._login_pending = True
        future = asyncio.run_coroutine_threadsafe(asyncio.to_thread(ocsp.query, leaf, issuer), self.pipeline.loop)
        future.add_done_callback(
            lambda done: self.waker.call_soon_threadsafe(self._ocsp_answered, accepted.identity, line, done)
        )

    def _ocsp_answered(self, identity: Identity, line: str, future: Future[Answer]) -> None:
        self._login_pending = False
        if not self._closed:
            self._ocsp_decides(identity, line, "unavailable" if future.exception() else future.result())

    def _ocsp_decides(self, identity: Identity, line: str, answer: Answer) -> None:
        assert self.validator.ocsp is not None
        refusal = self.validator.ocsp.refusal(answer)
        if refusal is None:
            self._complete_login(identity, line)
        else:
            reason, detail = refusal
            self._refuse_login(reason, f"Your certificate was refused ({reason}): {detail}.")

    def _refuse_login(self, reason: str, detail: str) -> None:
        metrics.FTPS_LOGINS.labels(result="refused", reason=reason, kind=self._claimed_kind()).inc()
        log.warning("login refused", reason=reason, detail=detail, remote_ip=self.remote_ip, **self._peer_fields())
        self.respond(f"530 Login refused: {detail}")
        self.close_when_done()

    def _complete_login(self, identity: Identity, line: str) -> None:
        services = self.routes.current().permitted_services(identity)
        self.view = TenantView.prepare(self.layout, identity, services)
        self.identity = identity
        self.authorizer = SessionAuthorizer(self.view)
        self.handle_auth_success(
            str(self.view.root), line, f"Welcome {identity.common_name or identity.serial_number}."
        )
        self.fs.cwd = self.view.home
        metrics.FTPS_LOGINS.labels(result="accepted", reason="", kind=identity.kind.value).inc()
        if identity.not_after is not None:
            metrics.CLIENT_CERT_NOT_AFTER.labels(
                tenant=identity.tenant, subject_id=identity.subject_id, kind=identity.kind.value
            ).set(identity.not_after.timestamp())
        log.info(
            "login",
            tenant=identity.tenant,
            kind=identity.kind.value,
            serial_number=identity.serial_number,
            services=services,
            remote_ip=self.remote_ip,
        )

    def _peer(self) -> Any:
        if isinstance(self.socket, SSL.Connection):
            return self.socket.get_peer_certificate(as_cryptography=True)
        return None

    def _claimed_kind(self) -> str:
        """The kind a refused certificate claims to be, so on-call sees who is locked out."""
        peer = self._peer()
        try:
            return "unknown" if peer is None else identify(peer).kind.value
        except IdentityError:
            return "unknown"

    def _peer_fields(self) -> dict[str, str]:
        peer = self._peer()
        if peer is None:
            return {}
        return {"subject": peer.subject.rfc4514_string(), "certificate_serial": format(peer.serial_number, "x")}

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

    # --- /out
    def ftp_DELE(self, path: str) -> str | None:
        assert self.view is not None
        area = self.view.area(path)
        result: str | None = super().ftp_DELE(path)
        if result is not None and area is Area.OUT_FILE:
            self._audit_delete(os.path.basename(path))
        return result

    def _audit_delete(self, name: str) -> None:
        """Deletes in /out remove the file for every certificate of the company: who did it is kept."""
        assert self.identity is not None
        identity = self.identity
        record = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "action": "delete",
            "tenant": identity.tenant,
            "file": f"out/{name}",
            "kind": identity.kind.value,
            "serial_number": identity.serial_number,
            "common_name": identity.common_name,
            "certificate_sha256": identity.fingerprint,
            "remote_ip": self.remote_ip,
        }
        metrics.OUT_DELETES.labels(kind=identity.kind.value).inc()
        log.info("out file deleted", **record)
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        asyncio.run_coroutine_threadsafe(asyncio.to_thread(_append, self.layout.audit_file, line), self.pipeline.loop)

    def ftp_STOU(self, line: str) -> None:
        self._refuse("STOU", "unsupported", "502 STOU is not supported: the file name is the transaction id.")

    def ftp_APPE(self, file: str) -> None:
        self._refuse("APPE", "unsupported", "550 Appending is not supported: a transaction is one whole file.")

    # --- uploads
    def _reservation(self, view: TenantView, service: str, ftp_txid: str) -> Any:
        return self.layout.txid_dir / view.identity.tenant / service / ftp_txid

    def ftp_STOR(self, file: str, mode: str = "w") -> str | None:
        assert self.view is not None
        assert self.identity is not None
        if self.data_channel is not None and self.data_channel.transfer_in_progress():
            # Pointing the running data channel at a new file would splice two uploads into one.
            self._refuse("STOR", "transfer_in_progress", "450 A transfer is in progress; wait for its reply first.")
            return None
        if "a" in mode or self._restart_position:
            self._restart_position = 0
            self._refuse("STOR", "resume", "550 Resuming uploads is not supported: a transaction is one whole file.")
            return None
        try:
            target = self.view.upload_target(file)
        except NameRefused as exc:
            self._refuse("STOR", "bad_name", f"553 {exc}.")
            return None
        route = self.routes.current().routes.get(target.service)
        if route is None or not route.allow.permits(self.identity):
            self._refuse("STOR", "service_not_permitted", f"550 You may not upload to {target.service!r}.")
            return None
        quota = self.settings.out_quota_bytes
        if quota is not None:
            used = _out_usage(self.view.root / OUT)
            if used > quota:
                self._refuse(
                    "STOR",
                    "out_quota",
                    f"552 Your /out holds {used} bytes, over its quota of {quota}: download and delete "
                    "the files in /out, then upload again.",
                )
                return None
        self._abandon_upload()
        reservation = self._reservation(self.view, target.service, target.ftp_txid)
        try:
            reservation.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(reservation, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
        except FileExistsError:
            self._refuse(
                "STOR",
                "duplicate_txid",
                f"553 Transaction id {target.ftp_txid!r} was already used for {target.service}; "
                "upload with a new, unique file name.",
            )
            return None
        except OSError as exc:
            self._refuse("STOR", "storage", f"451 Cannot accept uploads right now: {_reason(exc)}.")
            return None
        gateway_txid = new_id()
        try:
            writer = SpoolWriter(self.layout.spool_dir / gateway_txid / "payload", route.max_file_size)
        except OSError as exc:
            reservation.unlink(missing_ok=True)
            self._refuse("STOR", "storage", f"451 Cannot accept uploads right now: {_reason(exc)}.")
            return None
        self._upload = PendingUpload(gateway_txid, self.identity, target, writer, reservation)
        self._upload_path = file
        if self.data_channel is not None:
            self.respond("125 Data connection already open. Transfer starting.")
            self.data_channel.file_obj = writer
            self.data_channel.enable_receiving(self._current_type, "STOR")
        else:
            self.respond("150 File status okay. About to open data connection.")
            self._in_dtp_queue = (writer, "STOR")
        return file

    # --- integrity of /out files (draft-bryan-ftpext-hash)
    def ftp_HASH(self, path: str) -> None:
        self._hash(
            "HASH", path, lambda digest, size: f"213 SHA-256 0-{max(size - 1, 0)} {digest} {os.path.basename(path)}"
        )

    def ftp_XSHA256(self, path: str) -> None:
        self._hash("XSHA256", path, lambda digest, _size: f"213 {digest}")

    def _hash(self, command: str, path: str, reply: Any) -> None:
        assert self.view is not None
        if self.view.area(path) is not Area.OUT_FILE:
            self._refuse(command, "not_out_file", f"550 {command} answers only for files in /out.")
            return
        if self._hashing:
            # One file read per session at a time: pipelined HASH commands must not tie up the threads.
            self._refuse(command, "busy", "450 A hash is still being computed; wait for its reply.")
            return
        self._hashing = True

        def done(future: Future[tuple[str, int]]) -> None:
            self.waker.call_soon_threadsafe(self._hash_finished, future, reply)

        # Reading a whole file must not stall every other session on the FTP IO loop.
        asyncio.run_coroutine_threadsafe(
            asyncio.to_thread(_sha256_file, Path(path)), self.pipeline.loop
        ).add_done_callback(done)

    def _hash_finished(self, future: Future[tuple[str, int]], reply: Any) -> None:
        self._hashing = False
        if self._closed:
            return
        error = future.exception()
        if error is not None:
            reason = _reason(error, "read error")
            self.respond(f"550 Cannot hash the file: {reason}.")
            return
        digest, size = future.result()
        self.respond(reply(digest, size))

    def on_file_received(self, file: str) -> None:
        upload, self._upload = self._upload, None
        if upload is None:
            return
        started = time.perf_counter()
        path = self._upload_path
        self._finalizing = True

        def done(future: Future[events_pb2.UploadReceived]) -> None:
            self.waker.call_soon_threadsafe(self._upload_finished, upload, future, started, path)

        self.pipeline.finalize(upload, done)

    def _upload_finished(
        self, upload: PendingUpload, future: Future[events_pb2.UploadReceived], started: float, path: str
    ) -> None:
        self._finalizing = False
        metrics.UPLOAD_FINALIZE_SECONDS.observe(time.perf_counter() - started)
        service = upload.target.service
        error = future.exception()
        if error is not None:
            metrics.UPLOADS.labels(service=service, result="failed").inc()
            log.error("upload could not be stored", gateway_txid=upload.gateway_txid, error=repr(error))
            reason = _reason(error, "storage error")
            reply = f"451 The upload could not be stored ({reason}); nothing was kept. Please upload again."
        else:
            event = future.result()
            metrics.UPLOADS.labels(service=service, result="received").inc()
            metrics.UPLOAD_BYTES.labels(service=service).inc(event.size)
            log.info(
                "upload received",
                gateway_txid=event.gateway_txid,
                tenant=event.sender.tenant,
                service=service,
                ftp_txid=event.ftp_txid,
                size=event.size,
                sha256=event.sha256,
            )
            self.recent.add(path, event.size, time.time())
            reply = f"226 Transfer complete; transaction {event.ftp_txid} is on its way to {service}."
        if not self._closed:
            self.respond(reply)

    def on_incomplete_file_received(self, file: str) -> None:
        upload = self._upload
        self._abandon_upload()
        if upload is not None:
            metrics.UPLOADS.labels(service=upload.target.service, result="aborted").inc()

    def _abandon_upload(self) -> None:
        upload, self._upload = self._upload, None
        if upload is not None:
            self.pipeline.discard(upload)


def _append(path: Path, line: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        # The structured log line already carries the record; say loudly that the file lacks it.
        log.error("audit record not written", path=str(path), error=repr(exc), record=line.decode(errors="replace"))


def _out_usage(out_dir: Path) -> int:
    """Bytes in a tenant's /out: one flat directory, so one scandir."""
    try:
        with os.scandir(out_dir) as entries:
            return sum(entry.stat(follow_symlinks=False).st_size for entry in entries if entry.is_file())
    except FileNotFoundError:
        return 0


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _reason(error: BaseException, default: str = os.strerror(errno.EIO)) -> str:
    """What a failed file operation tells the client: the OS's words for its errno."""
    return os.strerror(error.errno) if isinstance(error, OSError) and error.errno else default
