"""The FTPS command handler: certificate login, tenant views, uploads that leave at once.

Built on pyftpdlib's extension points: a TLS_FTPHandler subclass, a custom AbstractedFS and a
per-session authorizer. Replies to finished uploads are deferred until the payload and its
event are durable; that work runs in the pipeline thread, never on the FTP IO loop.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import time
from concurrent.futures import Future
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

from gateway_ingress.certificates import CertificateValidator
from gateway_ingress.filesystem import GatewayFS, NoLoginAuthorizer, SessionAuthorizer
from gateway_ingress.login import LoginRefused, authenticate
from gateway_ingress.ocsp import Answer
from gateway_ingress.pipeline import PendingUpload, UploadPipeline
from gateway_ingress.recent import RecentUploads
from gateway_ingress.spool import SpoolWriter
from gateway_ingress.tenant import Area, NameRefused, TenantView, check_name
from gateway_ingress.waker import Waker

log = get_logger(__name__)


class GatewayDTPHandler(TLS_DTPHandler):  # type: ignore[misc]
    _resp: tuple[Any, ...]

    def close(self) -> None:
        if (
            not self._closed
            and self.receive
            and self.transfer_finished
            and isinstance(self.file_obj, SpoolWriter)
            and self._resp
            and self._resp[0].startswith("226")
        ):
            # The 226 waits until the upload is durable: GatewayHandler.on_file_received sends it.
            self._resp = ()
        super().close()


class GatewayHandler(TLS_FTPHandler):  # type: ignore[misc]
    tls_control_required = True
    tls_data_required = True
    dtp_handler = GatewayDTPHandler
    abstracted_fs = GatewayFS
    authorizer: SessionAuthorizer = NoLoginAuthorizer()
    _restart_position: int
    use_sendfile = False

    # Set by build_server() on a subclass per server.
    layout: ClassVar[StorageLayout]
    routes: ClassVar[RouteTableSource]
    pipeline: ClassVar[UploadPipeline]
    waker: ClassVar[Waker]
    validator: ClassVar[CertificateValidator]
    recent: ClassVar[RecentUploads]

    def __init__(self, conn: Any, server: Any, ioloop: Any = None) -> None:
        self.identity: Identity | None = None
        self.view: TenantView | None = None
        self._upload: PendingUpload | None = None
        self._login_pending = False
        self._upload_path = ""  # the client's path of self._upload, for SIZE/MDTM afterwards
        super().__init__(conn, server, ioloop)

    # --- connection lifecycle
    def on_connect(self) -> None:
        metrics.FTPS_SESSIONS.inc()
        metrics.FTPS_SESSIONS_TOTAL.inc()

    def on_disconnect(self) -> None:
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
            self._refuse(
                "STOR", "storage", f"451 Cannot accept uploads right now: {os.strerror(exc.errno or errno.EIO)}."
            )
            return None
        gateway_txid = new_id()
        try:
            writer = SpoolWriter(self.layout.spool_dir / gateway_txid / "payload", route.max_file_size)
        except OSError as exc:
            reservation.unlink(missing_ok=True)
            self._refuse(
                "STOR", "storage", f"451 Cannot accept uploads right now: {os.strerror(exc.errno or errno.EIO)}."
            )
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

    def on_file_received(self, file: str) -> None:
        upload, self._upload = self._upload, None
        if upload is None:
            return
        started = time.perf_counter()
        path = self._upload_path

        def done(future: Future[events_pb2.UploadReceived]) -> None:
            self.waker.call_soon_threadsafe(self._upload_finished, upload, future, started, path)

        self.pipeline.finalize(upload, done)

    def _upload_finished(
        self, upload: PendingUpload, future: Future[events_pb2.UploadReceived], started: float, path: str
    ) -> None:
        metrics.UPLOAD_FINALIZE_SECONDS.observe(time.perf_counter() - started)
        service = upload.target.service
        error = future.exception()
        if error is not None:
            metrics.UPLOADS.labels(service=service, result="failed").inc()
            log.error("upload could not be stored", gateway_txid=upload.gateway_txid, error=repr(error))
            reason = os.strerror(error.errno) if isinstance(error, OSError) and error.errno else "storage error"
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
