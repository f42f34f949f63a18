"""Uploads: STOR takes the transaction id, the pipeline makes it durable, then the one final reply.

The 226 is sent here, from on_file_received's completion, never by pyftpdlib's data channel
(see data.py): it waits until the payload and its event are durable.
"""

from __future__ import annotations

import time
from concurrent.futures import Future

from gateway_common import metrics
from gateway_common.events import new_id
from gateway_common.logging import get_logger
from gateway_common.proto.gateway.v1 import events_pb2

from gateway_ingress import replies
from gateway_ingress.pipeline import PendingUpload
from gateway_ingress.replies import os_reason
from gateway_ingress.reservations import reserve
from gateway_ingress.session import Session
from gateway_ingress.spool import SpoolWriter
from gateway_ingress.tenant import OUT, NameRefused

log = get_logger(__name__)


class UploadCommands(Session):
    def ftp_STOU(self, line: str) -> None:
        self._refuse("STOU", replies.STOU_UNSUPPORTED)

    def ftp_APPE(self, file: str) -> None:
        self._refuse("APPE", replies.APPEND_UNSUPPORTED)

    def ftp_STOR(self, file: str, mode: str = "w") -> str | None:
        assert self.view is not None
        assert self.identity is not None
        channel = self.data_channel
        if channel is not None and (channel.receive or channel.transfer_in_progress()):
            # Pointing the running data channel at a new file would splice two uploads into one;
            # it carries an upload from its STOR on, before the first bytes have arrived too.
            self._refuse("STOR", replies.TRANSFER_IN_PROGRESS)
            return None
        if "a" in mode or self.restart_position:
            self.restart_position = 0
            self._refuse("STOR", replies.RESUME_UNSUPPORTED)
            return None
        try:
            target = self.view.upload_target(file)
        except NameRefused as exc:
            self._refuse("STOR", replies.BAD_NAME, detail=exc)
            return None
        route = self.routes.current().routes.get(target.service)
        if route is None or not route.allow.permits(self.identity):
            self._refuse("STOR", replies.SERVICE_NOT_PERMITTED, service=target.service)
            return None
        if self._held_by_quota(file, mode):
            return None
        self._end_waiting_upload()
        self._abandon_upload()  # none is left by now; should one be, it must not keep its id
        gateway_txid = new_id()
        try:
            reservation = reserve(self.layout, self.identity.tenant, target.service, target.ftp_txid, gateway_txid)
        except FileExistsError:
            self._refuse("STOR", replies.TXID_USED_FOR_SERVICE, txid=target.ftp_txid, service=target.service)
            return None
        except OSError as exc:
            self._refuse("STOR", replies.CANNOT_ACCEPT, reason=os_reason(exc))
            return None
        try:
            writer = SpoolWriter(self.layout.spool_txn(gateway_txid) / "payload", route.max_file_size)
        except OSError as exc:
            reservation.unlink(missing_ok=True)
            self._refuse("STOR", replies.CANNOT_ACCEPT, reason=os_reason(exc))
            return None
        self._upload = PendingUpload(gateway_txid, self.identity, target, writer, reservation, self.remote_ip)
        self._upload_path = file
        if self.data_channel is not None:
            self.respond(replies.DATA_OPEN())
            self.data_channel.file_obj = writer
            self.data_channel.enable_receiving(self.transfer_type, "STOR")
        else:
            self.respond(replies.DATA_OPENING())
            self.pending_receive = (writer, "STOR")
        return file

    def _held_by_quota(self, file: str, mode: str) -> bool:
        """True when the tenant's /out is over its quota (refused) or not measured yet (deferred)."""
        assert self.view is not None
        quota = self.settings.out_quota_bytes
        if quota is None:
            return False
        used = self.out_usage.used(self.view.root / OUT)
        if used is None:  # not measured yet: STOR is answered once it is, off the IO loop
            self.pause_commands()
            self.out_usage.measure(self.view.root / OUT, lambda: self.resume_after(lambda: self.ftp_STOR(file, mode)))
            return True
        if used > quota:
            self._refuse("STOR", replies.OUT_QUOTA, used=used, quota=quota)
            return True
        return False

    def on_file_received(self, file: str) -> None:
        upload, self._upload = self._upload, None
        if upload is None:
            return
        started = time.perf_counter()
        path = self._upload_path
        self._finalizing = True
        self.pipeline.finalize(upload, self.on_loop(self._upload_finished, upload, started, path))

    def _upload_finished(
        self, upload: PendingUpload, started: float, path: str, future: Future[events_pb2.UploadReceived]
    ) -> None:
        self._finalizing = False
        metrics.UPLOAD_FINALIZE_SECONDS.observe(time.perf_counter() - started)
        service = upload.target.service
        error = future.exception()
        if error is not None:
            metrics.UPLOADS.labels(service=service, result="failed").inc()
            log.error("upload could not be stored", gateway_txid=upload.gateway_txid, error=repr(error))
            reason = os_reason(error, "storage error")
            reply = replies.NOT_STORED(reason=reason)
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
            if upload.target.txid_dir is not None:
                self.spent.finished(upload.target.txid_dir, id(self))
            reply = replies.UPLOADED(txid=event.ftp_txid, service=service)
        if not self.is_closed:
            self.respond(reply)

    def on_incomplete_file_received(self, file: str) -> None:
        """The one final reply of an upload that did not complete, once nothing of it is left.

        The data channel set ``upload_reply`` to why (data.py); the reply waits for the discard so
        that a client retrying at once finds its transaction id free.
        """
        upload, self._upload = self._upload, None
        reply = self.upload_reply or replies.UPLOAD_INCOMPLETE()
        self.upload_reply = None
        if upload is None:
            self._reply_if_open(reply)
            return
        metrics.UPLOADS.labels(service=upload.target.service, result="aborted").inc()
        self.pipeline.discard(upload, lambda: self.waker.call_soon_threadsafe(self._reply_if_open, reply))

    def ftp_ABOR(self, line: str) -> None:
        channel = self.data_channel
        if self._upload is not None and channel is not None and channel.receive:
            # RFC 959: 426 for the transfer, then 226 for ABOR; both once nothing of it is left.
            self.upload_reply = f"{replies.UPLOAD_ABORTED()}\r\n{replies.ABOR_DONE()}"
            self.data_channel = None
            channel.close()
        elif not self.fail_waiting_upload(f"{replies.UPLOAD_ABORTED()}\r\n{replies.ABOR_NOTHING_RUNNING()}"):
            super().ftp_ABOR(line)
        else:
            self.close_connecting_data_channel()

    def _waiting_upload(self) -> PendingUpload | None:
        """The upload of a STOR still waiting for its data connection, if one waits."""
        return self._upload if self.pending_receive is not None else None

    def fail_waiting_upload(self, reply: str) -> bool:
        """End a STOR still waiting for its data connection with ``reply``; False if there is none."""
        if self._waiting_upload() is None:
            return False
        self.pending_receive = None
        self.upload_reply = reply
        self.on_incomplete_file_received(self._upload_path)
        return True

    def _end_waiting_upload(self) -> None:
        """A STOR still waiting for its data connection when the next STOR comes: its final reply, now.

        Now, not after its spool file is gone (as for ABOR): the next STOR runs in this same call,
        before any command the client sent after it, and its 150 must follow this reply. The id is
        released here on the IO loop (one unlink), so that the next STOR, often a retry of the same
        id, finds it free; the spool file is removed off the loop.
        """
        upload = self._waiting_upload()
        if upload is None:
            return
        self._upload, self.pending_receive = None, None
        metrics.UPLOADS.labels(service=upload.target.service, result="aborted").inc()
        try:
            upload.reservation.unlink(missing_ok=True)
            released = True
        except OSError as exc:  # taken still, and no new reservation of it can exist: the thread tries again
            log.warning("could not release the id of an abandoned upload", error=repr(exc))
            released = False
        self.pipeline.discard(upload, release_id=not released)
        self.respond(replies.STOR_BEFORE_DATA_CONNECTION())

    def _reply_if_open(self, reply: str) -> None:
        if self.connected and not self.is_closed:
            self.respond(reply)

    def _abandon_upload(self) -> None:
        upload, self._upload = self._upload, None
        if upload is not None:
            self.pipeline.discard(upload)
