"""A live Prometheus and Alertmanager around a running gateway, for tests of alerts and dashboards.

Debian's binaries (scripts/install-monitoring-tools.sh) run as plain processes on loopback ports:
Prometheus scrapes every service of a Gateway and a queue exporter each second, evaluates the
chart's alert rules with time compressed (``compress_rules``), and sends to an Alertmanager
that delivers to a webhook receiver in the test process. The broker's side (a relay to take
it away, the queue metrics) is in tests/support/broker_faults.py.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.support.gateway import Gateway
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "charts" / "ftps-gateway" / "files" / "alerts.rules.yaml"
DASHBOARD = REPO / "charts" / "ftps-gateway" / "files" / "dashboard.json"
RUNBOOK = REPO / "charts" / "ftps-gateway" / "RUNBOOK.md"
NAMESPACE = "ftps-test"
_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def install() -> Path:
    """The directory of the prometheus and prometheus-alertmanager binaries (installed if missing)."""
    result = subprocess.run(
        [str(REPO / "scripts" / "install-monitoring-tools.sh")], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"install-monitoring-tools.sh failed:\n{result.stderr}")
    return Path(result.stdout.strip())


def _seconds(text: str) -> int:
    return sum(int(n) * _UNIT[u] for n, u in _DURATION.findall(text))


def compress(duration: str, factor: int) -> str:
    """``15m`` -> ``15s`` for factor 60: the same alert logic in a fraction of the time."""
    return f"{max(1, round(_seconds(duration) / factor))}s"


def compress_rules(source: Path, target: Path, factor: int) -> dict[str, dict[str, Any]]:
    """Write the rules with every ``for:`` and every range selector ``[..]`` divided by ``factor``.

    Thresholds stay as they are: a rate per second is still a rate per second. Returns the rules
    by alert name, as compressed.
    """
    document = yaml.safe_load(source.read_text())
    rules: dict[str, dict[str, Any]] = {}
    for group in document["groups"]:
        for rule in group["rules"]:
            rule["expr"] = re.sub(r"\[(\d+[smhd])\]", lambda m: f"[{compress(m[1], factor)}]", rule["expr"])
            if "for" in rule:
                rule["for"] = compress(rule["for"], factor)
            rules[rule["alert"]] = rule
    target.write_text(yaml.safe_dump(document, sort_keys=False))
    return rules


class QuietHandler(BaseHTTPRequestHandler):
    """An HTTP handler that does not log every request to stderr."""

    def log_message(self, *_: object) -> None:  # quiet
        pass


@dataclass
class WebhookReceiver:
    """Alertmanager's webhook receiver: keeps every alert it is sent, firing and resolved."""

    port: int = field(default_factory=free_port)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.alerts.extend(payload["alerts"])
                self.send_response(200)
                self.end_headers()

        self._http = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._http.shutdown()

    def mark(self) -> int:
        """A point in the stream of received alerts: ``wait(after=mark)`` looks only at later ones."""
        return len(self.alerts)

    def wait(
        self,
        alertname: str,
        status: str,
        match: dict[str, str] | None = None,
        *,
        after: int = 0,
        timeout: float = 90,
    ) -> dict[str, Any]:
        """The first alert named ``alertname`` in ``status`` (firing/resolved) whose labels match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for alert in self.alerts[after:]:
                labels = alert["labels"]
                if (
                    labels.get("alertname") == alertname
                    and alert["status"] == status
                    and all(labels.get(k) == v for k, v in (match or {}).items())
                ):
                    return alert
            time.sleep(0.2)
        seen = sorted({(a["labels"]["alertname"], a["status"]) for a in self.alerts})
        raise AssertionError(f"no {status} {alertname} {match or ''} within {timeout}s; received: {seen}")


@dataclass
class Monitoring:
    """Prometheus and Alertmanager processes watching ``gateway``."""

    root: Path
    binaries: Path
    gateway: Gateway
    rules_file: Path
    exporter_port: int
    receiver: WebhookReceiver
    prometheus_port: int = field(default_factory=free_port)
    alertmanager_port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _prometheus_config(self) -> dict[str, Any]:
        scrape = [
            {
                "job_name": service,
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{port}"],
                        # What the chart's ServiceMonitor relabelings give each target.
                        "labels": {"gateway_component": service, "pod": f"{service}-0", "namespace": NAMESPACE},
                    }
                ],
            }
            for service, port in self.gateway.http_ports.items()
        ]
        scrape.append(
            {
                "job_name": "rabbitmq",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{self.exporter_port}"], "labels": {"namespace": NAMESPACE}}
                ],
            }
        )
        return {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
            "rule_files": [str(self.rules_file)],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.alertmanager_port}"]}]}]},
            "scrape_configs": scrape,
        }

    def _alertmanager_config(self) -> dict[str, Any]:
        return {
            "route": {
                "receiver": "test",
                "group_by": ["..."],  # every alert its own group: nothing waits for another
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "test",
                    "webhook_configs": [{"url": f"http://127.0.0.1:{self.receiver.port}/", "send_resolved": True}],
                }
            ],
        }

    def start(self) -> Monitoring:
        (self.root / "prometheus.yml").write_text(yaml.safe_dump(self._prometheus_config()))
        (self.root / "alertmanager.yml").write_text(yaml.safe_dump(self._alertmanager_config()))
        # Debian's Alertmanager reads its default notification templates from the fixed path
        # /usr/share/prometheus/alertmanager; a private mount namespace shows it the unpacked
        # package's /usr/share there, so nothing is installed on the machine.
        share = self.binaries.parent / "share"
        alertmanager = [
            "unshare",
            "--mount",
            "--map-root-user",
            "sh",
            "-c",
            'mount --bind "$1" /usr/share && shift && exec "$@"',
            "alertmanager-namespace",
            str(share),
            str(self.binaries / "prometheus-alertmanager"),
            f"--config.file={self.root / 'alertmanager.yml'}",
            f"--storage.path={self.root / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{self.alertmanager_port}",
            "--cluster.listen-address=",  # no gossip port: a single instance, loopback only
        ]
        prometheus = [
            str(self.binaries / "prometheus"),
            f"--config.file={self.root / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.root / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
            "--rules.alert.resend-delay=1s",
        ]
        for name, command in (("alertmanager", alertmanager), ("prometheus", prometheus)):
            log = (self.root / f"{name}.log").open("ab")
            self.procs.append(subprocess.Popen(command, stdout=log, stderr=log))
            log.close()
        self._wait_http(f"http://127.0.0.1:{self.alertmanager_port}/-/ready")
        self._wait_http(f"http://127.0.0.1:{self.prometheus_port}/-/ready")
        return self

    def _wait_http(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[0]} exited:\n{self.logs()}")
            time.sleep(0.2)
        raise RuntimeError(f"{url} not ready after {timeout}s:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.root.glob("*.log"))

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Evaluate ``expr`` now; the result vector (an error is raised, not returned)."""
        url = f"http://127.0.0.1:{self.prometheus_port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.loads(response.read())
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def wait_for_data(self, expr: str, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not (result := self.query(expr)) and time.monotonic() < deadline:
            time.sleep(0.5)
        return result
