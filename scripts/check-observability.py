"""Cross-checks the chart's alerts, dashboard and runbook against the code.

Run with the project's own interpreter (<repo>/.venv/bin/python), which has gateway_common:

  1. every metric named in files/alerts.rules.yaml and files/dashboard.json is a collector
     registered by gateway_common.metrics (suffixes _total/_created/_bucket/_sum/_count/_info
     as the metric type makes them), or one of Prometheus' own series (up), or RabbitMQ's
     (rabbitmq_*);
  2. label names used in selectors on gateway metrics exist on the metric (or are target labels);
  3. every alert has a promtool unit test in files/alerts.test.yaml that expects it to fire;
  4. every alert's runbook_url points to an entry of RUNBOOK.md.

Exit status 1 with one line per problem.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import registry as registry_module

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "charts" / "ftps-gateway"
BUILTIN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# Labels that targets carry (Prometheus, the chart's relabelings, histogram buckets).
TARGET_LABELS = {
    "job",
    "instance",
    "namespace",
    "pod",
    "service",
    "container",
    "endpoint",
    "gateway_component",
    "le",
}
KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
    "atan2",
    "start",
    "end",
}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created", ""),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "unknown": ("",),
}


def code_metrics() -> tuple[dict[str, set[str]], list[str]]:
    """Sample names exported by gateway_common.metrics -> their label names; and warnings.

    The registry is made lenient while importing, so that a name clash inside metrics.py is
    reported instead of hiding every other name.
    """
    warnings: list[str] = []
    original = registry_module.CollectorRegistry.register

    def lenient(self: Any, collector: Any) -> None:
        try:
            original(self, collector)
        except ValueError as exc:
            warnings.append(f"gateway_common.metrics does not import cleanly: {exc}")
            with self._lock:
                for name in self._get_names(collector):
                    self._names_to_collectors.setdefault(name, collector)
                self._collector_to_names[collector] = set(self._get_names(collector))

    registry_module.CollectorRegistry.register = lenient  # type: ignore[method-assign]
    try:
        # Imported here, after the registry was made lenient.
        import gateway_common.metrics  # noqa: F401, PLC0415
    finally:
        registry_module.CollectorRegistry.register = original  # type: ignore[method-assign]

    names: dict[str, set[str]] = {}
    for collector in list(registry_module.REGISTRY._collector_to_names):
        labels = set(getattr(collector, "_labelnames", ()) or ())
        for family in collector.describe() if hasattr(collector, "describe") else collector.collect():
            for suffix in SUFFIXES.get(family.type, ("",)):
                names[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
            if family.type == "info":
                names[family.name + "_info"] |= {"service", "version"}
    return names, warnings


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![A-Za-z0-9_:.$])([A-Za-z_:][A-Za-z0-9_:]*)\b(?!\s*\()")


def promql_names(expr: str) -> dict[str, set[str]]:
    """Metric names an expression selects -> label names its matchers use."""
    expr = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", "1m", expr)  # Grafana variables
    names: dict[str, set[str]] = {}
    for match in _SELECTOR.finditer(expr):
        matchers = _STRING.sub('""', match.group(2))
        names.setdefault(match.group(1), set()).update(m.group(1) for m in _MATCHER.finditer(matchers))
    stripped = re.sub(r"\{[^}]*\}", "", _STRING.sub('""', expr))
    stripped = re.sub(r"\[[^\]]*\]", "", stripped)
    stripped = _GROUPING.sub("", stripped)
    for match in _IDENT.finditer(stripped):
        name = match.group(1)
        if name.lower() not in KEYWORDS:
            names.setdefault(name, set())
    return names


def alert_exprs(rules: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (rule.get("alert") or rule.get("record", "?"), rule["expr"])
        for group in rules["groups"]
        for rule in group["rules"]
    ]


def dashboard_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []

    def panels(items: list[dict[str, Any]]) -> None:
        for panel in items:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    out.append((f"panel {panel.get('title')!r}", target["expr"]))
            panels(panel.get("panels", []))

    panels(dashboard.get("panels", []))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if variable.get("type") == "query" and isinstance(query, str):
            found = re.match(r"\s*label_values\(\s*([^,)]+)", query)
            if found:
                out.append((f"variable {variable['name']!r}", found.group(1)))
    return out


def check_names(rules: dict[str, Any], dashboard: dict[str, Any], known: dict[str, set[str]]) -> tuple[list[str], int]:
    """Problems with metric and label names; references checked."""
    problems: list[str] = []
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    checked = 0
    sources = [("alerts.rules.yaml", w, e) for w, e in alert_exprs(rules)]
    sources += [("dashboard.json", w, e) for w, e in dashboard_exprs(dashboard)]
    for source, where, expr in sources:
        for name, labels in promql_names(expr).items():
            checked += 1
            if name.startswith("rabbitmq_") or name in BUILTIN or name in recorded:
                continue
            if name in known:
                unknown = labels - known[name] - TARGET_LABELS
            else:
                problems.append(f"{source}: {where}: metric {name!r} is not defined in gateway_common.metrics")
                continue
            if unknown:
                problems.append(f"{source}: {where}: metric {name!r} has no label(s) {sorted(unknown)}")
    return problems, checked


def check_tests_and_runbook(rules: dict[str, Any]) -> tuple[list[str], int]:
    """Every alert has a firing unit test and a RUNBOOK.md entry its runbook_url points to."""
    problems: list[str] = []
    tests = yaml.safe_load((CHART / "files" / "alerts.test.yaml").read_text(encoding="utf-8"))
    fired = {
        case["alertname"]
        for test in tests.get("tests", [])
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    runbook = (CHART / "RUNBOOK.md").read_text(encoding="utf-8")
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#{1,6}\s+(.+)$", runbook, flags=re.M)
    }
    alerts = [r for g in rules["groups"] for r in g["rules"] if r.get("alert")]
    for rule in alerts:
        alert = rule["alert"]
        if alert not in fired:
            problems.append(f"alerts.test.yaml: no unit test expects {alert} to fire")
        url = rule.get("annotations", {}).get("runbook_url", "")
        anchor = url.partition("#")[2]
        if not url or anchor not in anchors:
            problems.append(f"alerts.rules.yaml: {alert}: runbook_url {url!r} has no RUNBOOK.md entry")
        if anchor != alert.lower():
            problems.append(f"alerts.rules.yaml: {alert}: runbook_url anchor should be #{alert.lower()}")
    return problems, len(fired)


def main() -> int:
    known, warnings = code_metrics()
    rules = yaml.safe_load((CHART / "files" / "alerts.rules.yaml").read_text(encoding="utf-8"))
    dashboard = json.loads((CHART / "files" / "dashboard.json").read_text(encoding="utf-8"))
    problems, checked = check_names(rules, dashboard, known)
    more, fired = check_tests_and_runbook(rules)
    problems += more

    for warning in warnings:
        print(f"WARNING: {warning}")
    for problem in problems:
        print(f"ERROR: {problem}")
    print(
        f"check-observability: {checked} metric references, {fired} alerts with firing tests, "
        f"{len(problems)} problem(s)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
