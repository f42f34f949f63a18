"""The metric catalogue: one namespace, described, and exposed as Prometheus can read it.

tests/deploy checks that every name the alerts, dashboard and runbook use is defined here.
"""

from __future__ import annotations

import re

from gateway_common import metrics
from prometheus_client import REGISTRY, Info, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

CATALOGUE = {name: value for name, value in vars(metrics).items() if isinstance(value, MetricWrapperBase)}


def test_every_metric_is_in_the_gateway_namespace_described_and_snake_case() -> None:
    assert {"BUILD_INFO", "UPLOADS", "STORAGE_BYTES", "UPLOAD_TO_STATUS_SECONDS"} <= set(CATALOGUE)
    for name, metric in CATALOGUE.items():
        assert re.fullmatch(r"gateway_[a-z0-9_]+", metric._name), name
        assert len(metric._documentation) > 20, name
        assert all(re.fullmatch(r"[a-z_]+", label) for label in metric._labelnames), name


def test_every_metric_is_exposed_in_one_parseable_exposition() -> None:
    families = {family.name for family in text_string_to_metric_families(generate_latest(REGISTRY).decode())}
    # prometheus_client keeps a counter's name without _total, as its family is named; an Info's
    # family is its name with _info.
    for metric in CATALOGUE.values():
        assert metric._name + ("_info" if isinstance(metric, Info) else "") in families, metric._name


def test_histogram_buckets_rise() -> None:
    for metric in (metrics.UPLOAD_FINALIZE_SECONDS, metrics.UPLOAD_TO_STATUS_SECONDS):
        buckets = metric._upper_bounds
        assert buckets == sorted(set(buckets))
        assert buckets[-1] == float("inf")
