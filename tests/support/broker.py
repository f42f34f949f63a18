"""A private RabbitMQ virtual host per test session, on the machine's real broker."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator

BROKER = "amqp://guest:guest@127.0.0.1:5672"


def rabbitmqctl(*args: str) -> str:
    result = subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=60)
    return result.stdout


def vhost_of(amqp_url: str) -> str:
    return amqp_url.rsplit("/", 1)[1]


def close_connections(amqp_url: str) -> None:
    """Have the broker drop every client connection of this vhost (a broker restart, as clients see it)."""
    rabbitmqctl("close_all_connections", "--vhost", vhost_of(amqp_url), "fault injection")


@contextlib.contextmanager
def private_vhost() -> Iterator[str]:
    """Yield an AMQP URL of a fresh vhost, so tests never meet `make run`'s queues or each other's."""
    if shutil.which("rabbitmqctl") is None:
        raise RuntimeError("rabbitmqctl is needed to create the tests' private vhost")
    vhost = f"ftps-gateway-test-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"{BROKER}/{vhost}"
    finally:
        rabbitmqctl("delete_vhost", vhost)


class BrokerRelay:
    """A TCP relay to the broker that can go away for a while: a broker restart as clients see it.

    ``outage`` cuts every relayed connection and refuses new ones for some seconds, like a broker
    that stops and starts again, without touching the shared broker other tests use.
    """

    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5672)) -> None:
        self.upstream = upstream
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._serve()

    def url(self, amqp_url: str) -> str:
        return amqp_url.replace("@127.0.0.1:5672/", f"@127.0.0.1:{self.port}/")

    def _serve(self) -> None:
        threading.Thread(target=self._accept, args=(self._server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
                upstream = socket.create_connection(self.upstream)
            except OSError:
                return
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def outage(self, seconds: float) -> None:
        self._server.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        time.sleep(seconds)
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._serve()

    def close(self) -> None:
        self._server.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()
