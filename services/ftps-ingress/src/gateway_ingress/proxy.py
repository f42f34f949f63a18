"""PROXY protocol (v1 text, v2 binary) from trusted load balancers, so the real client address survives.

Design: a connection whose peer is in ``GATEWAY_PROXY_TRUSTED_CIDRS`` must start with a PROXY
header (deny by default: without one every client would look like the balancer); a connection
from anywhere else is a direct client and its header, if any, is not believed. The same applies
to passive data connections, so the balancer must send the header on the passive port range
too (HAProxy: ``send-proxy`` on every port it relays); the same-address check of data
connections then compares real client addresses.

The header is read with exact-length ``recv`` calls, never past its end: on data connections
the TLS ClientHello follows in the same segment and belongs to the TLS layer.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Callable, Sequence
from ipaddress import IPv4Network, IPv6Network
from typing import Any, Literal

from pyftpdlib.ioloop import AsyncChat

from gateway_ingress.pyftpdlib_internals import hand_over_socket

Mode = Literal["off", "v1", "v2", "auto"]
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX = 107  # the spec's longest v1 line, CRLF included
V2_MAX_BODY = 512
_PROBE = 8  # enough to tell v1 from v2


class ProxyHeaderError(ValueError):
    pass


class ProxyHeaderReader:
    """Incremental parser: ask ``wanted()`` bytes, ``feed`` them, until ``done``.

    ``source`` is the client's (address, port), or None for a LOCAL/UNKNOWN header (a
    balancer's own health check), which the caller treats as the balancer itself.
    """

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.buffer = b""
        self.done = False
        self.source: tuple[str, int] | None = None

    def wanted(self) -> int:
        size = len(self.buffer)
        if size < _PROBE:
            return _PROBE - size
        if self.buffer.startswith(V1_PREFIX):
            return 1  # byte by byte up to CRLF: the line has no length field
        if size < 16:
            return 16 - size
        length: int = struct.unpack("!H", self.buffer[14:16])[0]
        return 16 + length - size

    def feed(self, data: bytes) -> None:
        if not data:
            raise ProxyHeaderError("connection closed inside the PROXY header")
        self.buffer += data
        size = len(self.buffer)
        if size < _PROBE:
            return
        if self.buffer.startswith(V1_PREFIX):
            self._check_mode("v1")
            if self.buffer.endswith(b"\r\n"):
                self._parse_v1()
            elif size >= V1_MAX:
                raise ProxyHeaderError("PROXY v1 line too long")
            return
        if not V2_SIGNATURE.startswith(self.buffer[: min(size, 12)]):
            raise ProxyHeaderError("no PROXY protocol header")
        self._check_mode("v2")
        if size >= 16:
            (length,) = struct.unpack("!H", self.buffer[14:16])
            if length > V2_MAX_BODY:
                raise ProxyHeaderError("PROXY v2 header too long")
            if size == 16 + length:
                self._parse_v2()

    def _check_mode(self, version: Literal["v1", "v2"]) -> None:
        if self.mode not in ("auto", version):
            raise ProxyHeaderError(f"PROXY {version} header, but {self.mode} is configured")

    def _parse_v1(self) -> None:
        try:
            line = self.buffer[:-2].decode("ascii")
        except UnicodeDecodeError as exc:
            raise ProxyHeaderError("PROXY v1 header is not ASCII") from exc
        fields = line.split(" ")
        if fields[1:2] == ["UNKNOWN"]:
            self.done = True
            return
        if len(fields) != 6 or fields[1] not in ("TCP4", "TCP6"):
            raise ProxyHeaderError("malformed PROXY v1 header")
        _, family, source, _destination, port, _ = fields
        try:
            address = ipaddress.ip_address(source)
            number = int(port)
        except ValueError as exc:
            raise ProxyHeaderError("malformed address in PROXY v1 header") from exc
        if address.version != (4 if family == "TCP4" else 6) or not (0 < number < 65536) or port != str(number):
            raise ProxyHeaderError("malformed address in PROXY v1 header")
        self.source = (str(address), number)
        self.done = True

    def _parse_v2(self) -> None:
        version_command, family = self.buffer[12], self.buffer[13]
        body = self.buffer[16:]
        if version_command >> 4 != 2 or version_command & 0x0F not in (0, 1):
            raise ProxyHeaderError("unsupported PROXY v2 version or command")
        self.done = True
        if version_command & 0x0F == 0:  # LOCAL
            return
        if family == 0x11 and len(body) >= 12:
            self.source = (socket.inet_ntop(socket.AF_INET, body[0:4]), struct.unpack("!H", body[8:10])[0])
        elif family == 0x21 and len(body) >= 36:
            self.source = (socket.inet_ntop(socket.AF_INET6, body[0:16]), struct.unpack("!H", body[32:34])[0])
        elif family == 0x00:  # UNSPEC
            return
        else:
            raise ProxyHeaderError("unsupported PROXY v2 address family")


def is_trusted(ip: str, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def read_some(sock: Any, reader: ProxyHeaderReader) -> bool:
    """Read what the header still needs; True once it is complete. Raises ProxyHeaderError."""
    try:
        data = sock.recv(reader.wanted())
    except BlockingIOError:
        return False
    except OSError as exc:
        raise ProxyHeaderError(f"connection failed inside the PROXY header: {exc}") from exc
    reader.feed(data)
    return reader.done


class ProxyDataGate(AsyncChat):  # type: ignore[misc]
    """Holds an accepted passive data connection until its PROXY header is read, then hands it on."""

    socket: Any

    def __init__(
        self,
        sock: socket.socket,
        mode: Mode,
        timeout: float,
        ioloop: Any,
        on_done: Callable[[socket.socket, tuple[str, int] | None], None],
        on_error: Callable[[str], None],
    ) -> None:
        super().__init__(sock, ioloop=ioloop)
        self._reader = ProxyHeaderReader(mode)
        self._on_done = on_done
        self._on_error = on_error
        self._timer = self.call_later(timeout, self._expired)

    def _expired(self) -> None:
        self._fail("no PROXY header in time")

    def _fail(self, reason: str) -> None:
        self.close()
        self._on_error(reason)

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def handle_read(self) -> None:
        try:
            if not read_some(self.socket, self._reader):
                return
        except ProxyHeaderError as exc:
            self._fail(str(exc))
            return
        self._timer.cancel()
        # Hand the socket over without closing it: the TLS layer continues where the header ended.
        self._on_done(hand_over_socket(self), self._reader.source)

    def handle_close(self) -> None:
        self._fail("connection closed inside the PROXY header")

    def handle_error(self) -> None:
        self._fail("error while reading the PROXY header")
