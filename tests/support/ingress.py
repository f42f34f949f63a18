"""The ingress's FTPS server in the test process: build_server on free ports, its IO loop in a thread.

The unit tests of the command modules (login, upload, out, folders, guidance, ...) drive it with
Python's ftplib and raw control connections, as a client would, and look at what it left on the
storage. It runs the real pipeline on the real broker (a private vhost of the caller's).
"""

from __future__ import annotations

import contextlib
import ftplib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from gateway_common.routes import RouteTableSource
from gateway_common.storage import TMP_PREFIX, StorageLayout
from gateway_ingress import replies
from gateway_ingress.certificates import build_validator
from gateway_ingress.control import GatewayHandler
from gateway_ingress.drain import Drain
from gateway_ingress.pipeline import UploadPipeline
from gateway_ingress.server import build_server
from gateway_ingress.settings import IngressSettings
from gateway_ingress.tls import build_context
from OpenSSL import SSL
from pyftpdlib.servers import FTPServer

from tests.support.clients import ClientCert, ftps
from tests.support.files import files_below
from tests.support.ftps import Control, tls_context
from tests.support.ports import free_port, free_port_range
from tests.support.waiting import eventually

T = TypeVar("T")

ROUTES: dict[str, Any] = {
    "routes": {
        "heartbeat": {"adapter": "heartbeat"},
        "tax-reports": {"adapter": "heartbeat"},
        "small-files": {"adapter": "heartbeat", "max_file_size": 1024},
        "companies-only": {"adapter": "heartbeat", "allow": {"kinds": ["employee", "company", "function"]}},
    }
}


@dataclass
class Ingress:
    server: FTPServer
    settings: IngressSettings
    layout: StorageLayout
    pki: Path
    routes_file: Path
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.settings.ftps_port

    @property
    def handler(self) -> type[GatewayHandler]:
        """The configured handler class: its class attributes are the server's shared state."""
        handler: type[GatewayHandler] = self.server.handler
        return handler

    def settled_spool(self) -> set[Path]:
        """The spool's files once no event waits in the outbox and no partial payload is left.

        An upload's event record moves beside its payload just after the 226, and a discarded
        upload's partial payload goes off the loop after its reply: a snapshot taken before
        those would differ from a later one without the test's own upload doing anything.
        """

        def settled() -> bool:
            return not files_below(self.layout.outbox_dir, "*.pb") and not files_below(
                self.layout.spool_dir, TMP_PREFIX + "*"
            )

        eventually(settled, "earlier uploads' spool and outbox files settled")
        return set(files_below(self.layout.spool_dir))

    def cert(self, name: str) -> ClientCert:
        return ClientCert.from_pki(self.pki, name)

    def client(self, name: str = "employee") -> ftplib.FTP_TLS:
        """A logged-in ftplib session with PROT P whose data connections resume its TLS session."""
        return ftps(self.port, self.pki, self.cert(name))

    def control(self, name: str | None = "employee") -> Control:
        """A raw control connection, logged in with ``name``'s certificate (None: just connected)."""
        control = Control(self.port)
        if name is not None:
            control.login(self.pki, self.cert(name))
        return control

    def data_connection(self, control: Control, name: str = "employee") -> ssl.SSLSocket:
        """A TLS data connection, with ``name``'s certificate, to the port EPSV gives ``control``."""
        port = control.passive_port()
        context = tls_context(self.pki, self.cert(name))
        return context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")

    def storing(self, path: str, name: str = "employee") -> tuple[Control, ssl.SSLSocket]:
        """A session in the middle of ``STOR path``, its data connection open: the test sends the bytes."""
        control = self.control(name)
        control.protect()
        data = self.data_connection(control, name)
        assert control.send(f"STOR {path}").strip() == replies.DATA_OPEN()
        return control, data

    def tenant_root(self, tenant: str) -> Path:
        return self.layout.tenant_root(tenant)

    def on_loop(self, function: Callable[[], T], timeout: float = 10) -> T:
        """Run ``function`` on the server's IO loop (where its state may be touched) and return its result."""
        result: Future[T] = Future()

        def run() -> None:
            try:
                result.set_result(function())
            except Exception as exc:
                result.set_exception(exc)

        self.handler.waker.call_soon_threadsafe(run)
        return result.result(timeout)

    def sessions(self) -> list[GatewayHandler]:
        """The control connections the server holds now."""
        return self.on_loop(
            lambda: [s for s in self.server.ioloop.socket_map.values() if isinstance(s, GatewayHandler)]
        )

    def set_routes(self, routes: dict[str, Any]) -> None:
        """Replace the route table; the server reads it again at its next look (no re-read interval)."""
        self.routes_file.write_text(yaml.safe_dump(routes))


def _pki_values(pki: Path) -> dict[str, Any]:
    """The settings naming the demo PKI's server certificate, client CAs and CRLs."""
    return {
        "tls_cert_file": pki / "server.pem",
        "tls_key_file": pki / "server.key",
        "client_ca_file": pki / "client-ca.pem",
        "crl_files": [pki / "crl-bundle.pem"],
        "crl_fetch": False,
    }


def tls_settings(pki: Path, **settings: Any) -> IngressSettings:
    """Settings for TLS and certificate checks without a server."""
    return IngressSettings(**(_pki_values(pki) | settings))


def tls_pair(
    server_context: SSL.Context, client: SSL.Context, session: SSL.Session | None = None
) -> tuple[SSL.Connection, SSL.Connection]:
    """Both ends of a TLS handshake over a socketpair; the client offers ``session`` to resume."""
    server_sock, client_sock = socket.socketpair()
    server_sock.setblocking(False)
    client_sock.setblocking(False)
    server = SSL.Connection(server_context, server_sock)
    server.set_accept_state()
    peer = SSL.Connection(client, client_sock)
    if session is not None:
        peer.set_session(session)
    peer.set_connect_state()
    for _ in range(20):  # one thread drives both ends: alternate until neither waits for the other
        done = True
        for end in (peer, server):
            try:
                end.do_handshake()
            except SSL.WantReadError:
                done = False
        if done:
            break
    return server, peer


def server_end(pki: Path, client: str | None) -> SSL.Connection:
    """The server end of a handshake with a client presenting ``client``'s certificate (None: none)."""
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    if client is not None:
        context.use_certificate_chain_file(str(pki / "clients" / f"{client}.pem"))
        context.use_privatekey_file(str(pki / "clients" / f"{client}.key"))
    return tls_pair(build_context(tls_settings(pki)), context)[0]


def _stop_loop() -> None:
    raise SystemExit  # pyftpdlib's serve_forever ends on it and closes every connection


@contextlib.contextmanager
def running_ingress(
    root: Path, pki: Path, amqp_url: str, routes: dict[str, Any] | None = None, **settings: Any
) -> Iterator[Ingress]:
    """A started ingress on 127.0.0.1 with its data under ``root``; stopped (if still running) on exit."""
    root.mkdir(parents=True, exist_ok=True)
    routes_file = root / "routes.yaml"
    routes_file.write_text(yaml.safe_dump(routes or ROUTES))
    passive = free_port_range(10)
    values: dict[str, Any] = (
        _pki_values(pki)
        | {
            "data_dir": root / "data",
            "amqp_url": amqp_url,
            "routes_file": routes_file,
            "ftps_host": "127.0.0.1",
            "ftps_port": free_port(),
            "passive_ports": f"{passive.start}-{passive.stop - 1}",
            "max_logins_per_minute_per_ip": 100000,
            "max_connections_per_ip": 256,
            "max_tls_handshakes_per_minute_per_ip": 100000,
            "drain_timeout": 10.0,
        }
        | settings
    )
    config = IngressSettings(**values)
    layout = StorageLayout(config.data_dir)
    layout.ensure()
    pipeline = UploadPipeline(config, layout)
    drain = Drain(config.drain_timeout)
    server = build_server(
        config, layout, RouteTableSource(routes_file, interval=0), pipeline, build_validator(config), drain
    )
    pipeline.start()
    # As __main__ runs it: without a poll timeout the loop sleeps until its next timer, so timers
    # (the 1 ms hold of EPSV's reply) fire on time, not up to a poll interval late.
    thread = threading.Thread(target=server.serve_forever, kwargs={"handle_exit": True}, name="ftp-loop", daemon=True)
    ingress = Ingress(server, config, layout, pki, routes_file, thread)
    try:
        eventually(lambda: pipeline.bus.connected, "the ingress did not connect to the broker", timeout=30)
        thread.start()
        yield ingress
    finally:
        if thread.is_alive():
            ingress.handler.waker.call_soon_threadsafe(_stop_loop)
            thread.join(10)
        pipeline.stop()
