"""Free TCP ports on 127.0.0.1 for the servers the tests start.

Ports are drawn outside the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999
by default): a port found free there could be taken by any outgoing connection (to the broker,
a client's) before the server that was handed it binds it, which failed a CI run with "Address
already in use". No port is handed out twice by one test process.
"""

from __future__ import annotations

import random
import socket

_LOW, _HIGH = 10000, 32000
_handed: set[int] = set()


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    return free_port_range(1).start


def free_port_range(size: int) -> range:
    """A run of ``size`` consecutive ports that are free right now (for passive data ports)."""
    for _ in range(500):
        base = random.randint(_LOW, _HIGH - size)
        ports = range(base, base + size)
        if not _handed.intersection(ports) and all(_bindable(port) for port in ports):
            _handed.update(ports)
            return ports
    raise RuntimeError("no free port range found")
