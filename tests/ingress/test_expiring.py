"""The count of client certificates by days to expiry: bounded, no identifiers, moving with time."""

from __future__ import annotations

from gateway_ingress.expiring import ExpiringCertificates
from prometheus_client import REGISTRY

from tests.support.clock import Clock

DAY = 86400.0


def _counts() -> dict[str, float]:
    return {
        label: REGISTRY.get_sample_value("gateway_client_certificates_expiring", {"within_days": label}) or 0.0
        for label in ("7", "14", "30", "60", "+Inf")
    }


def test_buckets_are_cumulative_and_follow_the_clock() -> None:
    clock = Clock()
    expiring = ExpiringCertificates(clock=clock)
    expiring.publish()
    expiring.seen("a" * 64, clock.now + 5 * DAY)
    expiring.seen("b" * 64, clock.now + 20 * DAY)
    expiring.seen("c" * 64, clock.now + 400 * DAY)
    expiring.seen("a" * 64, clock.now + 5 * DAY)  # the same certificate again counts once
    assert _counts() == {"7": 1, "14": 1, "30": 2, "60": 2, "+Inf": 3}
    clock.now += 14 * DAY  # b now expires within 6 days; a has expired
    expiring.publish()
    assert _counts() == {"7": 1, "14": 1, "30": 1, "60": 1, "+Inf": 2}


def test_certificates_not_seen_for_the_remembered_time_are_forgotten() -> None:
    clock = Clock()
    expiring = ExpiringCertificates(remember=30 * DAY, clock=clock)
    expiring.publish()
    expiring.seen("d" * 64, clock.now + 1000 * DAY)
    clock.now += 31 * DAY
    expiring.publish()
    assert _counts()["+Inf"] == 0


def test_capacity_bounds_memory() -> None:
    clock = Clock()
    expiring = ExpiringCertificates(capacity=3, clock=clock)
    expiring.publish()
    for number in range(10):
        expiring.seen(f"{number:064d}", clock.now + 100 * DAY)
    assert _counts()["+Inf"] == 3
