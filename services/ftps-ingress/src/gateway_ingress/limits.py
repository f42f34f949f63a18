"""Per-client-address limits that must follow the real client IP, also behind a PROXY-protocol balancer.

pyftpdlib counts connections per socket peer address; behind a load balancer that is the
balancer, so the ingress keeps its own counts keyed by the address the session settled on.
Everything here runs on the FTP IO loop only, so no locking.
"""

from __future__ import annotations

import time
from collections import Counter, deque


class PerMinute:
    """Events per address in a sliding minute, e.g. login attempts or TLS handshakes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._events: dict[str, deque[float]] = {}

    def allow(self, ip: str, now: float | None = None) -> bool:
        """Record an event; False (and nothing recorded) when ``ip`` used up its minute."""
        now = time.monotonic() if now is None else now
        window = self._events.setdefault(ip, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.limit:
            return False
        window.append(now)
        # Forget quiet addresses so the table cannot grow without bound.
        if len(self._events) > 10_000:
            self._events = {k: v for k, v in self._events.items() if v and v[-1] > now - 60}
        return True


class Held:
    """Things an address holds at once (connections, passive listeners), each with a ceiling."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: Counter[str] = Counter()

    def take(self, ip: str) -> bool:
        """Count one for ``ip``; False (and nothing counted) when it is at the limit."""
        if self._held[ip] >= self.limit:
            return False
        self._held[ip] += 1
        return True

    def give_back(self, ip: str) -> None:
        self._held[ip] -= 1
        if self._held[ip] <= 0:
            del self._held[ip]


class ClientLimits:
    def __init__(
        self,
        max_connections_per_ip: int,
        max_logins_per_minute: int,
        max_handshakes_per_minute: int = 120,
        max_listeners_per_ip: int = 10,
    ) -> None:
        self.max_connections_per_ip = max_connections_per_ip
        self.max_logins_per_minute = max_logins_per_minute
        self.max_handshakes_per_minute = max_handshakes_per_minute
        self.max_listeners_per_ip = max_listeners_per_ip
        self._connections = Held(max_connections_per_ip)
        self._logins = PerMinute(max_logins_per_minute)
        # Before login nobody is known: a handshake costs the server CPU and a session-cache entry.
        self._handshakes = PerMinute(max_handshakes_per_minute)
        # Passive data ports are few (a firewall range): no address may hold them all.
        self._listeners = Held(max_listeners_per_ip)

    def connect(self, ip: str) -> bool:
        """Count a connection from ``ip``; False (and nothing counted) when over the limit."""
        return self._connections.take(ip)

    def disconnect(self, ip: str) -> None:
        self._connections.give_back(ip)

    def login_attempt(self, ip: str, now: float | None = None) -> bool:
        """Record a login attempt; False when ``ip`` already used up its attempts of the last minute."""
        return self._logins.allow(ip, now)

    def handshake_attempt(self, ip: str, now: float | None = None) -> bool:
        """Record an AUTH TLS before login; False when ``ip`` used up its handshakes of the last minute."""
        return self._handshakes.allow(ip, now)

    def open_listener(self, ip: str) -> bool:
        """Count a passive data port opened for ``ip``; False when it holds its share already."""
        return self._listeners.take(ip)

    def close_listener(self, ip: str) -> None:
        self._listeners.give_back(ip)
