"""Per-client-address limits that must follow the real client IP, also behind a PROXY-protocol balancer.

pyftpdlib counts connections per socket peer address; behind a load balancer that is the
balancer, so the ingress keeps its own counts keyed by the address the session settled on.
Everything here runs on the FTP IO loop only, so no locking.
"""

from __future__ import annotations

import time
from collections import Counter, deque


class ClientLimits:
    def __init__(self, max_connections_per_ip: int, max_logins_per_minute: int) -> None:
        self.max_connections_per_ip = max_connections_per_ip
        self.max_logins_per_minute = max_logins_per_minute
        self._connections: Counter[str] = Counter()
        self._logins: dict[str, deque[float]] = {}

    def connect(self, ip: str) -> bool:
        """Count a connection from ``ip``; False (and nothing counted) when over the limit."""
        if self._connections[ip] >= self.max_connections_per_ip:
            return False
        self._connections[ip] += 1
        return True

    def disconnect(self, ip: str) -> None:
        self._connections[ip] -= 1
        if self._connections[ip] <= 0:
            del self._connections[ip]

    def login_attempt(self, ip: str, now: float | None = None) -> bool:
        """Record a login attempt; False when ``ip`` already used up its attempts of the last minute."""
        now = time.monotonic() if now is None else now
        window = self._logins.setdefault(ip, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.max_logins_per_minute:
            return False
        window.append(now)
        # Forget quiet addresses so the table cannot grow without bound.
        if len(self._logins) > 10_000:
            self._logins = {k: v for k, v in self._logins.items() if v and v[-1] > now - 60}
        return True
