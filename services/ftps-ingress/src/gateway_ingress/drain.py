"""Stopping the ingress the way Kubernetes asks for it: SIGTERM, then a grace period.

On SIGTERM the ingress keeps its sockets open but lets no new work in: /readyz turns red, a new
connection and every idle session get a 421 telling the client to reconnect (to another
replica), and a session whose upload is running or being made durable keeps going until its
226. Once no session is left the process exits 0. Uploads still running when the drain time is
up are cut off without a 226, so nothing unpromised is lost.
"""

from __future__ import annotations

import time
from typing import Any, Protocol, runtime_checkable

from gateway_common.logging import get_logger

log = get_logger(__name__)

# Seconds of the drain time kept back for closing the sessions and the broker connection.
CLOSE_MARGIN = 5.0
POLL_INTERVAL = 0.2


@runtime_checkable
class DrainableSession(Protocol):
    """An FTP control connection as the drain sees it (GatewayHandler)."""

    @property
    def busy(self) -> bool:
        """True while an upload's 226 (or its failure reply) is still due."""
        ...

    def end_for_shutdown(self) -> None: ...


class Drain:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.requested = False
        self._deadline = 0.0
        self._announced = False

    def request(self) -> None:
        """Begin draining; safe to call from a signal handler (only sets plain fields)."""
        if not self.requested:
            self._deadline = time.monotonic() + max(self.timeout - min(CLOSE_MARGIN, self.timeout / 5), 0.0)
            self.requested = True

    def readiness(self) -> str | None:
        return "shutting down" if self.requested else None

    def watch(self, ioloop: Any) -> None:
        ioloop.call_every(POLL_INTERVAL, self._poll, ioloop)

    def _poll(self, ioloop: Any) -> None:
        if not self.requested:
            return
        sessions = [obj for obj in list(ioloop.socket_map.values()) if isinstance(obj, DrainableSession)]
        busy = [session for session in sessions if session.busy]
        if not self._announced:
            self._announced = True
            log.info("shutting down: running uploads may finish", sessions=len(sessions), uploads=len(busy))
        if time.monotonic() >= self._deadline:
            if busy:
                log.warning("drain time is up; cutting off running uploads without a 226", uploads=len(busy))
            raise SystemExit(0)
        for session in sessions:
            if not session.busy:
                session.end_for_shutdown()
        if not sessions:
            log.info("every session has ended")
            raise SystemExit(0)
