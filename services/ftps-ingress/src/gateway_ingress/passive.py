"""The passive data listener: admits one data connection per transfer from the client's address."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from pyftpdlib.handlers.ftp.dispatchers import PassiveDTP

from gateway_ingress import replies
from gateway_ingress.proxy import ProxyDataGate

if TYPE_CHECKING:
    from gateway_ingress.control import GatewayHandler


class GatewayPassiveDTP(PassiveDTP):  # type: ignore[misc]
    """Passive data listener: PROXY header first when the peer is a trusted balancer; refusals counted."""

    cmd_channel: GatewayHandler

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
        if self._closed or not channel.connected or channel.data_channel is not None:
            # A PROXY gate finished after the listener closed, or after another data connection
            # was admitted: one data connection per transfer, never a replacement.
            sock.close()
            return
        if addr[0] != channel.remote_ip:
            # pyftpdlib refuses it below with "425 Rejected data connection from foreign address".
            channel.data_refused("foreign_address", f"data connection from {addr[0]}", None)
        super().handle_accepted(sock, addr)
