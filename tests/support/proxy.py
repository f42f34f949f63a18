"""A PROXY-protocol load balancer for tests: relays ports on one loopback address to the gateway.

Like HAProxy with ``send-proxy``: every accepted connection is relayed to the same port on the
upstream host, from the balancer's own source address, after a PROXY header that names the
real client. The control port gets a v1 header, the passive ports v2, so both are exercised.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Iterable

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v1_header(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    return f"PROXY TCP4 {source[0]} {destination[0]} {source[1]} {destination[1]}\r\n".encode()


def v2_header(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    addresses = socket.inet_aton(source[0]) + socket.inet_aton(destination[0])
    body = addresses + struct.pack("!HH", source[1], destination[1])
    return V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


class ProxyRelay:
    def __init__(self, listen_host: str, control_port: int, data_ports: Iterable[int], source_ip: str) -> None:
        self.listen_host = listen_host
        self.control_port = control_port
        self.ports = [control_port, *data_ports]
        self.source_ip = source_ip
        self.loop = asyncio.new_event_loop()
        self._servers: list[asyncio.Server] = []
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ProxyRelay:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self.loop).result(10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    async def _listen(self) -> None:
        for port in self.ports:
            server = await asyncio.start_server(
                lambda r, w, port=port: self._relay(r, w, port), self.listen_host, port, reuse_address=True
            )
            self._servers.append(server)

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, port: int) -> None:
        client = client_w.get_extra_info("peername")[:2]
        try:
            upstream_r, upstream_w = await asyncio.open_connection("127.0.0.1", port, local_addr=(self.source_ip, 0))
        except OSError:
            client_w.close()
            return
        header = v1_header if port == self.control_port else v2_header
        upstream_w.write(header(client, (self.listen_host, port)))
        await asyncio.gather(_pipe(client_r, upstream_w), _pipe(upstream_r, client_w))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()
