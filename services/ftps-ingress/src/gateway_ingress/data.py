"""The data channel: TLS checks before any byte moves, and the end of an upload decided by close_notify."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from gateway_common import metrics
from gateway_common.logging import get_logger
from OpenSSL import SSL
from pyftpdlib.handlers import TLS_DTPHandler
from pyftpdlib.log import logger as ftp_logger

from gateway_ingress import replies
from gateway_ingress.replies import os_reason
from gateway_ingress.spool import FileTooLarge, SpoolWriter

if TYPE_CHECKING:
    from gateway_ingress.control import GatewayHandler

log = get_logger(__name__)


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
        metrics.FTPS_COMMAND_REFUSALS.labels(command="STOR", reason=replies.NO_CLOSE_NOTIFY.reason).inc()
        log.warning("upload ended without TLS close_notify; discarded", remote_ip=self.cmd_channel.remote_ip)
        return (replies.NO_CLOSE_NOTIFY(), ftp_logger.warning)

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
            metrics.FTPS_COMMAND_REFUSALS.labels(command="STOR", reason=replies.FILE_TOO_LARGE.reason).inc()
            log.warning("upload over the size limit", remote_ip=self.cmd_channel.remote_ip, limit=cause.limit)
            reply = replies.FILE_TOO_LARGE(limit=cause.limit)
        else:
            # RFC 959: 452 for insufficient storage (a full disk, a failing volume).
            metrics.FTPS_COMMAND_REFUSALS.labels(command="STOR", reason=replies.STORAGE_FULL.reason).inc()
            detail = cause.strerror or os_reason(cause)
            log.error("upload could not be written", remote_ip=self.cmd_channel.remote_ip, error=repr(cause))
            reply = replies.STORAGE_FULL(detail=detail)
        self._resp = (reply, ftp_logger.warning)
        self.close()
