"""The passive data listener: admits one data connection per transfer from the client's address.

Listeners come only from the configured port range (a firewall or load balancer forwards no
other), at most a few per client address, and close after GATEWAY_PASSIVE_TIMEOUT unused.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from pyftpdlib.handlers.ftp.dispatchers import PassiveDTP

from gateway_ingress.proxy import ProxyDataGate

if TYPE_CHECKING:
    from gateway_ingress.control import GatewayHandler


class PassivePortRefused(Exception):
    """No listener for this EPSV/PASV; ``reply`` says why and what to do."""

    def __init__(self, reason: str, reply: str) -> None:
        super().__init__(reply)
        self.reason = reason
        self.reply = reply


class GatewayPassiveDTP(PassiveDTP):  # type: ignore[misc]
    """Passive data listener: PROXY header first when the peer is a trusted balancer; refusals counted."""

    cmd_channel: GatewayHandler
    _closed: bool

    def __init__(self, cmd_channel: GatewayHandler, extmode: bool = False) -> None:
        self._holder: str | None = None
        ip, limits = cmd_channel.remote_ip, cmd_channel.limits
        if not limits.open_listener(ip):
            raise PassivePortRefused(
                "passive_listeners",
                f"425 Too many open data ports from {ip} (limit {limits.max_listeners_per_ip}); "
                "finish or abort your other transfers first.",
            )
        self._holder = ip
        # A dual-stack server binds port 0 once to learn the address family; after that, port 0
        # would be pyftpdlib's fallback to a random port outside the range.
        self._family_probe = cmd_channel.server.socket.family != socket.AF_INET
        self.timeout = cmd_channel.settings.passive_timeout
        try:
            super().__init__(cmd_channel, extmode)
        except BaseException:
            self.close()
            raise

    def bind(self, addr: tuple[Any, ...]) -> None:
        if addr[1] == 0 and self.cmd_channel.passive_ports is not None:
            if not self._family_probe:
                raise PassivePortRefused(
                    "no_passive_port", "425 No data port is free right now; try again in a moment."
                )
            self._family_probe = False
        super().bind(addr)

    def close(self) -> None:
        if self._holder is not None:
            self.cmd_channel.limits.close_listener(self._holder)
            self._holder = None
        super().close()

    def handle_timeout(self) -> None:
        channel = self.cmd_channel
        if channel.connected:
            reply = f"425 No data connection within {self.timeout} seconds; send EPSV or PASV again."
            channel.data_refused("passive_timeout", "no data connection", None)
            if not channel.fail_waiting_upload(reply):
                channel.respond(reply)
        self.close()

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
