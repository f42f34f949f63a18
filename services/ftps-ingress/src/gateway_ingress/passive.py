"""The passive data listener: admits one data connection per transfer from the client's address.

Listeners come only from the configured port range (a firewall or load balancer forwards no
other), at most a few per client address, and close after GATEWAY_PASSIVE_TIMEOUT unused.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from pyftpdlib.handlers.ftp.dispatchers import PassiveDTP

from gateway_ingress import replies
from gateway_ingress.proxy import ProxyDataGate
from gateway_ingress.pyftpdlib_internals import ChannelState

if TYPE_CHECKING:
    from gateway_ingress.control import GatewayHandler


class PassivePortRefused(Exception):
    """No listener for this EPSV/PASV; ``reply`` says why and what to do."""

    def __init__(self, reply: replies.Reply, /, **fields: object) -> None:
        super().__init__(reply(**fields))
        self.reply = reply
        self.fields = fields


class GatewayPassiveDTP(ChannelState, PassiveDTP):  # type: ignore[misc]
    """Passive data listener: PROXY header first when the peer is a trusted balancer; refusals counted."""

    cmd_channel: GatewayHandler

    def __init__(self, cmd_channel: GatewayHandler, extmode: bool = False) -> None:
        self._holder: str | None = None
        ip, limits = cmd_channel.remote_ip, cmd_channel.limits
        if not limits.open_listener(ip):
            raise PassivePortRefused(replies.TOO_MANY_DATA_PORTS, ip=ip, limit=limits.max_listeners_per_ip)
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
                raise PassivePortRefused(replies.NO_PASSIVE_PORT)
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
            reply = replies.PASSIVE_TIMEOUT(seconds=self.timeout)
            channel.data_refused(replies.PASSIVE_TIMEOUT.reason, "no data connection", None)
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
                lambda reason: channel.data_refused(replies.NO_PROXY_HEADER.reason, reason, replies.NO_PROXY_HEADER()),
            )
            return
        self._admit(sock, (addr[0], addr[1]))

    def _admit(self, sock: socket.socket, addr: tuple[str, int]) -> None:
        channel = self.cmd_channel
        if self.is_closed or not channel.connected or channel.data_channel is not None:
            # A PROXY gate finished after the listener closed, or after another data connection
            # was admitted: one data connection per transfer, never a replacement.
            sock.close()
            return
        if addr[0] != channel.remote_ip:
            # pyftpdlib refuses it below with "425 Rejected data connection from foreign address".
            channel.data_refused("foreign_address", f"data connection from {addr[0]}", None)
        super().handle_accepted(sock, addr)
