"""What every command group of a control connection shares: the session's state and refusals.

The control channel is one pyftpdlib handler class composed of command groups (login, uploads,
/out), each a module of its own; they all derive from Session so each sees the same attributes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from ipaddress import IPv4Network, IPv6Network
from typing import Any, ClassVar, TypeVar

from gateway_common import metrics
from gateway_common.identity import Identity
from gateway_common.logging import get_logger
from gateway_common.routes import RouteTableSource
from gateway_common.storage import StorageLayout
from pyftpdlib.handlers import TLS_FTPHandler

from gateway_ingress.certificates import CertificateValidator
from gateway_ingress.drain import Drain
from gateway_ingress.expiring import ExpiringCertificates
from gateway_ingress.filesystem import GatewayFS, NoLoginAuthorizer, SessionAuthorizer
from gateway_ingress.limits import ClientLimits
from gateway_ingress.pipeline import PendingUpload, UploadPipeline
from gateway_ingress.proxy import ProxyHeaderReader, is_trusted
from gateway_ingress.pyftpdlib_internals import ControlInternals
from gateway_ingress.quota import OutUsage
from gateway_ingress.recent import RecentUploads
from gateway_ingress.replies import Reply
from gateway_ingress.settings import IngressSettings
from gateway_ingress.spent import SpentFolders
from gateway_ingress.tenant import TenantView
from gateway_ingress.waker import Waker

log = get_logger(__name__)
T = TypeVar("T")


class Session(ControlInternals):
    tls_control_required = True
    tls_data_required = True
    abstracted_fs = GatewayFS
    authorizer: SessionAuthorizer = NoLoginAuthorizer()
    data_channel: Any
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
    drain: ClassVar[Drain]
    out_usage: ClassVar[OutUsage]
    spent: ClassVar[SpentFolders]
    expiring: ClassVar[ExpiringCertificates]
    limits: ClassVar[ClientLimits]
    trusted_proxies: ClassVar[list[IPv4Network | IPv6Network]]

    def __init__(self, conn: Any, server: Any, ioloop: Any = None) -> None:
        self.identity: Identity | None = None
        self.view: TenantView | None = None
        self._upload: PendingUpload | None = None
        self.upload_reply: str | None = None  # why the upload failed, sent once it is discarded
        self._finalizing = False  # the upload's 226 (or failure reply) is still due: drain.py waits
        self._ending = False
        self._upload_path = ""  # the client's path of self._upload, for SIZE/MDTM afterwards
        self._proxy_reader: ProxyHeaderReader | None = None
        self._counted_ip: str | None = None
        self._session_counted = False
        self._discarding_line = False
        # Command lines read while a command waits off the loop before its first reply (None: none waits).
        self._paused_lines: list[bytes] | None = None
        self._login_deadline: Any = None  # control.py: GATEWAY_LOGIN_TIMEOUT from connect
        super().__init__(conn, server, ioloop)
        if self.connected and self.behind_proxy(self.remote_ip):
            self._proxy_reader = ProxyHeaderReader(self.settings.proxy_protocol)
        if self.connected:
            self.extra_features.append("HASH SHA-256*")

    def behind_proxy(self, peer_ip: str) -> bool:
        return self.settings.proxy_protocol != "off" and is_trusted(peer_ip, self.trusted_proxies)

    def _refuse(self, command: str, reply: Reply, /, **fields: object) -> None:
        line = reply(**fields)
        self._count_refusal(command, reply.reason, line)
        self.respond(line)

    def _count_refusal(self, command: str, reason: str, reply: str) -> None:
        metrics.FTPS_COMMAND_REFUSALS.labels(command=command, reason=reason).inc()
        tenant = self.identity.tenant if self.identity is not None else None
        log.info(
            "command refused", command=command, reason=reason, reply=reply, tenant=tenant, remote_ip=self.remote_ip
        )

    def off_loop(self, function: Callable[..., T], *args: Any, then: Callable[[Future[T]], None] | None = None) -> None:
        """Run blocking ``function(*args)`` on the pipeline's threads, never on the FTP IO loop.

        ``then`` gets the finished future back on the FTP IO loop, where it may reply; commands
        read meanwhile wait for it (pause_commands), so their replies follow its reply.
        """
        future = asyncio.run_coroutine_threadsafe(asyncio.to_thread(function, *args), self.pipeline.loop)
        if then is not None:
            self.pause_commands()
            future.add_done_callback(self.on_loop(lambda done: self.resume_after(lambda: then(done))))

    def pause_commands(self) -> None:
        """The running command answers later (from another thread's result): commands read
        meanwhile wait, so that their replies follow its reply, as the client sent them."""
        if self._paused_lines is None:
            self._paused_lines = []

    def resume_after(self, command: Callable[[], object]) -> None:
        """Run the paused ``command`` again on the IO loop, then the commands read meanwhile, in order.

        Nothing runs once the session is ending (a 421 sent, QUIT, or QUIT during a transfer,
        which pyftpdlib answers and then stops reading). This runs from the waker, outside
        pyftpdlib's error handling, so an error ends the session as pyftpdlib's would.
        """
        waiting, self._paused_lines = self._paused_lines or [], None
        if self._reads_no_more_commands:
            return
        try:
            command()
            if self._paused_lines is not None:  # it waits once more, and the others with it
                self._paused_lines[:0] = waiting
                return
            partial = self.take_command_line()  # a line not ended yet stays the one being read
            for line in waiting:
                if self._reads_no_more_commands:
                    return
                self.put_command_line(line)
                self.found_terminator()
            self.put_command_line(partial)
        except Exception:
            self.handle_error()

    @property
    def _reads_no_more_commands(self) -> bool:
        return self.is_closing or self.quit_pending

    def on_loop(self, then: Callable[..., None], *args: Any) -> Callable[[Future[Any]], None]:
        """A done-callback for another thread's future: ``then(*args, future)`` runs on the FTP IO loop."""
        return lambda future: self.waker.call_soon_threadsafe(then, *args, future)
