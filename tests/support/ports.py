from __future__ import annotations

import random
import socket


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_port_range(size: int) -> range:
    """A run of ``size`` consecutive ports that are free right now (for passive data ports)."""
    for _ in range(200):
        base = random.randint(20000, 60000 - size)
        ports = range(base, base + size)
        try:
            for port in ports:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return ports
    raise RuntimeError("no free port range found")
