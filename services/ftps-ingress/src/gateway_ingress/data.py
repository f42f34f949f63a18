"""The data channel: TLS checks before any byte moves, and the end of an upload decided by close_notify.

An upload gets exactly one final reply, and a refusal goes out only once the partial file and the
transaction id are gone (UploadCommands.on_incomplete_file_received): a client that retries at
once must find its id free. Closing is one attempt at our close_notify and then the socket goes;
pyftpdlib would wait for the peer's, and a half-closed peer kept it re-trying on every read event
(DataInternals in pyftpdlib_internals.py does that).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from gateway_common import metrics
from gateway_common.logging import get_logger
from OpenSSL import SSL
from pyftpdlib.log import logger as ftp_logger

from gateway_ingress import replies
from gateway_ingress.pyftpdlib_internals import DataInternals
from gateway_ingress.replies import os_reason
from gateway_ingress.spool import FileTooLarge, SpoolWriter

if TYPE_CHECKING:
    from gateway_ingress.control import GatewayHandler

log = get_logger(__name__)


class GatewayDTPHandler(DataInternals):
    cmd_channel: GatewayHandler

    def __init__(self, sock: Any, cmd_channel: GatewayHandler) -> None:
        self._handshake_timer: Any = None
        super().__init__(sock, cmd_channel)
        if self.tls_handshaking and not self.is_closed:
            self._handshake_timer = self.ioloop.call_later(
                cmd_channel.settings.data_handshake_timeout, self._handshake_overdue, _errback=self.handle_error
            )

    def secure_connection(self, ssl_context: SSL.Context) -> None:
        super().secure_connection(ssl_context)
        if isinstance(self.socket, SSL.Connection):
            # A TLS 1.3 server sends session tickets right after the handshake. An uploading client
            # never reads them, so its close() with unread data becomes a TCP reset, which throws
            # away whatever it had not yet sent: the file's tail and its close_notify (issue 9.3).
            # TLS 1.2 with OP_NO_TICKET sends nothing unasked; pyOpenSSL cannot set
            # SSL_set_num_tickets(0), the TLS 1.3 way. docs/hardening.md has the reasoning.
            self.socket.set_options(SSL.OP_NO_TLSv1_3)

    # pyftpdlib sets the reply on several close paths (TLS shutdown, EOF, handle_close); for a
    # finished upload the 226 must wait until it is durable: GatewayHandler.on_file_received sends it.
    def reply_on_close(self, value: tuple[Any, ...]) -> tuple[Any, ...]:
        if value and self._is_upload():
            if value[0].startswith("226") and self._ended_by_client():
                value = ()
            else:
                if value[0].startswith("226"):
                    value = self._cut_off()
                self.transfer_finished = False  # so the spool file goes, and nothing is delivered
                self._final_reply(value[0])
                value = ()
        return value

    def _is_upload(self) -> bool:
        return bool(getattr(self, "receive", False)) and isinstance(getattr(self, "file_obj", None), SpoolWriter)

    def _final_reply(self, reply: str) -> None:
        """Answer the transfer: an upload once its spool file and id are gone, anything else now."""
        if self._is_upload():
            self.cmd_channel.upload_reply = reply
        elif self.cmd_channel.connected:
            self.cmd_channel.respond(reply)

    def _ended_by_client(self) -> bool:
        """Whether the upload ended with the client's TLS close_notify, not a bare TCP close.

        A FIN or reset can come from a middlebox or an attacker and would pass a truncated
        file off as complete (vsftpd's strict_ssl_read_eof).
        """
        if not self.cmd_channel.settings.tls_require_close_notify or not isinstance(self.socket, SSL.Connection):
            return True
        return bool(self.socket.get_shutdown() & SSL.RECEIVED_SHUTDOWN)

    def _cut_off(self) -> tuple[Any, ...]:
        metrics.FTPS_COMMAND_REFUSALS.labels(command="STOR", reason=replies.NO_CLOSE_NOTIFY.reason).inc()
        log.warning("upload ended without TLS close_notify; discarded", remote_ip=self.cmd_channel.remote_ip)
        return (replies.NO_CLOSE_NOTIFY(), ftp_logger.warning)

    def send(self, data: bytes) -> int:
        # Nothing goes out before the handshake has been checked: SSL_write would otherwise
        # complete the handshake itself and the listing or file would bypass the checks.
        # Sending nothing keeps the data queued; pyftpdlib drives the handshake meanwhile.
        if self.tls_requested and not self.tls_established:
            return 0
        sent: int = super().send(data)
        return sent

    def handle_ssl_established(self) -> None:
        self._cancel_handshake_timer()
        problem = self.cmd_channel.data_tls_problem(self.socket)
        if problem is not None:
            self._refuse(*problem)

    def handle_failed_ssl_handshake(self) -> None:
        # Plaintext, another protocol or a broken TLS client on a PROT P data connection.
        self._refuse(replies.DATA_HANDSHAKE_FAILED.reason, replies.DATA_HANDSHAKE_FAILED())

    def _handshake_overdue(self) -> None:
        if self.tls_handshaking and not self.is_closed:
            timeout = self.cmd_channel.settings.data_handshake_timeout
            self._refuse(replies.DATA_HANDSHAKE_TIMEOUT.reason, replies.DATA_HANDSHAKE_TIMEOUT(seconds=timeout))

    def _refuse(self, reason: str, reply: str) -> None:
        self.cmd_channel.data_refused(reason, reply, None)
        self._final_reply(reply)
        self.close()

    def _cancel_handshake_timer(self) -> None:
        if self._handshake_timer is not None and not self._handshake_timer.cancelled:
            self._handshake_timer.cancel()

    def recv(self, buffer_size: int) -> bytes:
        try:
            data: bytes = super().recv(buffer_size)
        except SSL.Error:
            # OpenSSL 3 reports a TCP end without close_notify as an error ("unexpected eof while
            # reading"); it is an end like any other, judged by _ended_by_client.
            self.handle_close()
            return b""
        return data

    def close(self) -> None:
        self._cancel_handshake_timer()
        super().close()

    def handle_timeout(self) -> None:
        if not self.tls_closing and self.moved_since_last_check():
            return
        metrics.FTPS_TIMEOUTS.labels(channel="data").inc()
        log.info("data connection stalled", remote_ip=self.cmd_channel.remote_ip, timeout=self.timeout)
        stalled = replies.UPLOAD_STALLED if self._is_upload() else replies.TRANSFER_STALLED
        self.set_reply_on_close((stalled(seconds=self.timeout), ftp_logger.info))
        self.drop_tls_goodbye()  # no goodbye to a peer that stopped moving
        self.close()

    def handle_error(self) -> None:
        # pyftpdlib wraps errors of file_obj.write; its TLS mixin would close without any reply.
        error = sys.exc_info()[1]
        cause = error.__cause__ if error is not None else None
        if not (self.receive and isinstance(cause, OSError)):
            super().handle_error()
            return
        if isinstance(cause, FileTooLarge):
            metrics.FTPS_COMMAND_REFUSALS.labels(command="STOR", reason=replies.FILE_TOO_LARGE.reason).inc()
            log.warning("upload over the size limit", remote_ip=self.cmd_channel.remote_ip, limit=cause.limit)
            reply = replies.FILE_TOO_LARGE(limit=cause.limit)
        else:
            # RFC 959: 452 for insufficient storage (a full disk, a failing volume).
            metrics.FTPS_COMMAND_REFUSALS.labels(command="STOR", reason=replies.STORAGE_FULL.reason).inc()
            detail = cause.strerror or os_reason(cause)
            log.error("upload could not be written", remote_ip=self.cmd_channel.remote_ip, error=repr(cause))
            reply = replies.STORAGE_FULL(detail=detail)
        self.set_reply_on_close((reply, ftp_logger.warning))
        self.close()
