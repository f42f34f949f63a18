"""Client certificates that logged in recently, counted by days to expiry for /metrics.

/metrics is unauthenticated, so it carries no identifier (PID, CVR, RID, serial, fingerprint)
and a bounded number of series: one per bucket of days left. Who holds an expiring
certificate is in the ingress's `login` log lines (tenant, serial number).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway_common import metrics

# Upper bounds in days, cumulative like a histogram's le: "14" counts every certificate that
# expires within 14 days, "+Inf" every certificate remembered.
BUCKETS = (7, 14, 30, 60)
_DAY = 86400.0


class ExpiringCertificates:
    def __init__(
        self, remember: float = 30 * _DAY, capacity: int = 100_000, clock: Callable[[], float] = time.time
    ) -> None:
        self.remember = remember
        self.capacity = capacity
        self.clock = clock
        self._seen: dict[str, tuple[float, float]] = {}  # fingerprint -> (not_after, last login)

    def seen(self, fingerprint: str, not_after: float) -> None:
        """A certificate logged in; counted at once, recounted by publish() as time passes."""
        now = self.clock()
        new = self._seen.pop(fingerprint, None) is None
        self._seen[fingerprint] = (not_after, now)  # re-inserted: the dict stays in login order
        if len(self._seen) > self.capacity:
            del self._seen[next(iter(self._seen))]
            self.publish()
        elif new:
            for label in self._labels(not_after - now):
                metrics.CLIENT_CERTS_EXPIRING.labels(within_days=label).inc()

    def publish(self) -> None:
        """Forget certificates not seen for ``remember`` seconds or expired; set every bucket."""
        now = self.clock()
        self._seen = {fp: v for fp, v in self._seen.items() if v[1] > now - self.remember and v[0] > now}
        counts = dict.fromkeys([*map(str, BUCKETS), "+Inf"], 0)
        for not_after, _ in self._seen.values():
            for label in self._labels(not_after - now):
                counts[label] += 1
        for label, count in counts.items():
            metrics.CLIENT_CERTS_EXPIRING.labels(within_days=label).set(count)

    @staticmethod
    def _labels(seconds_left: float) -> list[str]:
        return [str(days) for days in BUCKETS if seconds_left <= days * _DAY] + ["+Inf"]
