"""The chart's alerts and dashboard against a live Prometheus scraping a running gateway.

Prometheus and Alertmanager (Debian's binaries) watch a gateway of its own whose data directory
is a small tmpfs and whose broker connection runs through a relay the test can cut. Faults are
injected for real; the right alert must reach the webhook receiver with its runbook link, and
resolve once the fault ends. Time is compressed 60x (`for: 15m` -> 15 s, `[10m]` -> `[10s]`;
thresholds unchanged), scrapes and evaluations run every second. Afterwards every alert
expression and every dashboard query is run against that Prometheus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from gateway_common.messaging import QUEUE_PARKED, QUEUE_STATUS, QUEUE_UPLOADS, adapter_queue, retry_queue
from gateway_pki.authority import CertificateAuthority, now

from tests.support.broker import private_vhost, vhost_of
from tests.support.broker_faults import QueueExporter, TcpRelay
from tests.support.clients import ClientCert, curl
from tests.support.gateway import Gateway
from tests.support.monitoring import (
    DASHBOARD,
    NAMESPACE,
    RULES,
    RUNBOOK,
    Monitoring,
    WebhookReceiver,
    compress_rules,
    install,
)
from tests.support.tmpfs import small_tmpfs

pytestmark = pytest.mark.e2e
FACTOR = 60
DISK_BYTES = 32 << 20
TENANT = "company/30808460"
RUNBOOK_URL = "https://github.com/ftps-gateway/ftps-gateway/blob/main/charts/ftps-gateway/RUNBOOK.md#"
CRL_CA = "oces3-issuing"
QUEUES = [
    QUEUE_UPLOADS,
    QUEUE_STATUS,
    "gateway.status.outbound",
    QUEUE_PARKED,
    *(adapter_queue(a) for a in ("heartbeat", "http")),
    *(retry_queue(a, level) for a in ("heartbeat", "http") for level in range(2)),
]


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory, pki: Path) -> Iterator[tuple[Gateway, Monitoring, TcpRelay]]:
    binaries = install()
    root = tmp_path_factory.mktemp("monitoring")
    data = root / "data"
    data.mkdir()
    crls = root / "crls.pem"
    crls.write_bytes((pki / "crl-bundle.pem").read_bytes())
    receiver = WebhookReceiver()
    try:
        with small_tmpfs(data, DISK_BYTES), private_vhost() as direct, TcpRelay() as relay:
            relayed = f"amqp://guest:guest@127.0.0.1:{relay.port}/{vhost_of(direct)}"
            gw = Gateway(
                root,
                pki,
                relayed,
                extra_env={
                    "GATEWAY_RETRY_DELAYS": "[0.3, 0.6]",
                    "GATEWAY_MAX_ATTEMPTS": "3",
                    "GATEWAY_CRL_FILES": str(crls),
                    "GATEWAY_CRL_REFRESH_INTERVAL": "1",
                    "GATEWAY_PUBLISH_TIMEOUT": "2",
                },
            )
            with QueueExporter(direct, lambda: QUEUES) as exporter:
                gw.start()
                rules = root / "alerts.rules.yaml"
                compress_rules(RULES, rules, FACTOR)
                monitoring = Monitoring(root, binaries, gw, rules, exporter.port, receiver)
                try:
                    monitoring.start()
                    monitoring.wait_for_data('up{gateway_component="ingress"} == 1')
                    yield gw, monitoring, relay
                finally:
                    monitoring.stop()
                    gw.stop()
    finally:
        receiver.close()


def _checked(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert as delivered: its runbook link names its own RUNBOOK.md entry."""
    name = alert["labels"]["alertname"]
    assert alert["annotations"]["runbook_url"] == RUNBOOK_URL + name.lower(), alert
    assert re.search(rf"^## {name}$", RUNBOOK.read_text(), flags=re.M), f"RUNBOOK.md has no entry {name}"
    assert alert["annotations"]["summary"], alert
    return alert


def upload(gw: Gateway, folder: Path, service: str, content: bytes = b"<report/>") -> bool:
    txid = f"mon-{uuid.uuid4().hex[:12]}.xml"
    (folder / txid).write_bytes(content)
    result = curl(
        gw.ftps_port, gw.pki, ClientCert.from_pki(gw.pki, "employee"), f"/{service}/", "-T", str(folder / txid)
    )
    return result.returncode == 0


@contextlib.contextmanager
def steady(action: Any, pause: float = 0.3, limit: int = 400) -> Iterator[list[Any]]:
    """Repeat ``action`` in the background (bounded) while the block runs; yields its results."""
    results: list[Any] = []
    stop = threading.Event()

    def run() -> None:
        for _ in range(limit):
            if stop.is_set():
                return
            results.append(action())
            time.sleep(pause)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield results
    finally:
        stop.set()
        thread.join(60)


def test_adapter_stopped_pages_missing_consumer_and_component_down(watched: Any, tmp_path: Path) -> None:
    gw, monitoring, _ = watched
    mark = monitoring.receiver.mark()
    queue, component = {"queue": "gateway.adapter.heartbeat"}, {"gateway_component": "adapter-heartbeat"}
    gw.stop_service("adapter-heartbeat")
    try:
        assert upload(gw, tmp_path, "heartbeat")  # waits in the adapter's queue
        queue = {"queue": "gateway.adapter.heartbeat"}
        _checked(monitoring.receiver.wait("FtpsGatewayQueueWithoutConsumer", "firing", queue, after=mark))
        _checked(
            monitoring.receiver.wait(
                "FtpsGatewayComponentDown", "firing", {"gateway_component": "adapter-heartbeat"}, after=mark
            )
        )
        assert monitoring.query('rabbitmq_queue_messages_ready{queue="gateway.adapter.heartbeat"} >= 1')
    finally:
        gw.start_service("adapter-heartbeat")
        gw.wait_ready("adapter-heartbeat")
    monitoring.receiver.wait("FtpsGatewayQueueWithoutConsumer", "resolved", queue, after=mark)
    monitoring.receiver.wait("FtpsGatewayComponentDown", "resolved", component, after=mark)


def test_backend_down_pages_delivery_errors_and_retries(watched: Any, tmp_path: Path) -> None:
    gw, monitoring, _ = watched
    mark = monitoring.receiver.mark()
    http = {"adapter": "http"}
    gw.backend("PUT", "/unavailable/true")
    try:
        with steady(lambda: upload(gw, tmp_path, "tax-reports")) as uploads:
            _checked(monitoring.receiver.wait("FtpsGatewayDeliveryRetrying", "firing", http, after=mark))
            _checked(monitoring.receiver.wait("FtpsGatewayDeliveryErrors", "firing", http, after=mark))
        assert all(uploads), "uploads go on while the backend is down"
    finally:
        gw.backend("PUT", "/unavailable/false")
    monitoring.receiver.wait("FtpsGatewayDeliveryRetrying", "resolved", http, after=mark)
    monitoring.receiver.wait("FtpsGatewayDeliveryErrors", "resolved", http, after=mark)


def test_broker_away_pages_outbox_backlog_and_disconnected_services(watched: Any, tmp_path: Path) -> None:
    gw, monitoring, relay = watched
    mark = monitoring.receiver.mark()
    router = {"gateway_component": "router"}
    relay.cut()
    try:
        # More uploads than the alert's threshold of 100, four clients at a time.
        with ThreadPoolExecutor(4) as pool:
            uploads = list(pool.map(lambda _: upload(gw, tmp_path, "heartbeat"), range(110)))
        assert all(uploads), "uploads go on while the broker is away"
        _checked(monitoring.receiver.wait("FtpsGatewayOutboxBacklog", "firing", after=mark))
        _checked(monitoring.receiver.wait("FtpsGatewayBrokerDisconnected", "firing", router, after=mark))
    finally:
        relay.restore()
    monitoring.receiver.wait("FtpsGatewayOutboxBacklog", "resolved", after=mark, timeout=120)
    monitoring.receiver.wait("FtpsGatewayBrokerDisconnected", "resolved", router, after=mark)


def _crl(pki: Path, next_update_in: timedelta) -> tuple[bytes, str]:
    """A CRL of CRL_CA newer than any before it, keeping the certificates it revokes."""
    ca = CertificateAuthority.load(pki / "ca" / CRL_CA)
    earlier = x509.load_der_x509_crl((pki / "crls" / f"{CRL_CA}.crl").read_bytes())
    issued = now() - timedelta(seconds=2)
    crl = ca.issue_crl(
        [r.serial_number for r in earlier], issued + next_update_in, this_update=issued, crl_number=int(time.time())
    )
    name = ca.cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    return crl.public_bytes(serialization.Encoding.PEM), str(name)


def test_crl_past_its_next_update_pages(watched: Any) -> None:
    gw, monitoring, _ = watched
    mark = monitoring.receiver.mark()
    crls = Path(gw.env("ingress")["GATEWAY_CRL_FILES"])
    original = crls.read_bytes()
    expired, name = _crl(gw.pki, timedelta(seconds=1))
    crls.write_bytes(original + expired)
    try:
        _checked(monitoring.receiver.wait("FtpsGatewayCrlExpired", "firing", {"crl": name}, after=mark))
    finally:
        fresh, _ = _crl(gw.pki, timedelta(days=1))
        crls.write_bytes(original + fresh)
    monitoring.receiver.wait("FtpsGatewayCrlExpired", "resolved", {"crl": name}, after=mark)


def test_certificate_refusal_storm_pages(watched: Any) -> None:
    gw, monitoring, _ = watched
    mark = monitoring.receiver.mark()
    revoked = ClientCert.from_pki(gw.pki, "revoked")

    def login() -> int:
        return curl(gw.ftps_port, gw.pki, revoked, "/", "--list-only", timeout=10).returncode

    with steady(login, pause=0.05) as attempts:
        _checked(
            monitoring.receiver.wait("FtpsGatewayLoginRefusalsSpiking", "firing", {"reason": "revoked"}, after=mark)
        )
    assert attempts
    assert all(code != 0 for code in attempts)
    monitoring.receiver.wait("FtpsGatewayLoginRefusalsSpiking", "resolved", {"reason": "revoked"}, after=mark)


def _fill(path: Path) -> None:
    with path.open("wb", buffering=0) as handle:
        for size in (64 << 10, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"\0" * size)
    assert os.statvfs(path.parent).f_bavail == 0


def test_disk_nearly_full_pages_uploads_failing_on_storage(watched: Any, tmp_path: Path) -> None:
    gw, monitoring, _ = watched
    mark = monitoring.receiver.mark()
    ballast = gw.data_dir / "ballast"
    try:
        _fill(ballast)
        with steady(lambda: upload(gw, tmp_path, "heartbeat", b"x" * 65536)) as uploads:
            _checked(monitoring.receiver.wait("FtpsGatewayUploadsFailingOnStorage", "firing", after=mark))
        assert uploads
        assert not any(uploads), "no upload gets a 226 on a full disk"
    finally:
        ballast.unlink(missing_ok=True)
    assert upload(gw, tmp_path, "heartbeat")
    monitoring.receiver.wait("FtpsGatewayUploadsFailingOnStorage", "resolved", after=mark)


# Dashboard queries that rightly return nothing after the workload (each series they read is
# still checked), and series no fault here produces, with the reason.
EXPECTED_EMPTY = {
    "Client certificates expiring (30 days)": "no certificate of the test PKI expires within 30 days",
}
SELECTORS_EXPECTED_EMPTY = {
    'gateway_uploads_total{result="failed"}': (
        "the full disk refuses uploads before their data (STOR, reason storage); failing while storing "
        "needs the disk to fill during a transfer (tests/e2e/test_disk_full.py)"
    ),
}


async def _park_poison(amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        message = aio_pika.Message(b"\x00not protobuf", type="gateway.v1.UploadReceived", message_id=uuid.uuid4().hex)
        await channel.default_exchange.publish(message, QUEUE_UPLOADS)


def _selectors(expr: str) -> list[str]:
    """The instant-vector selectors of an expression: every metric it reads, with its matchers."""
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)  # label lists
    found = re.findall(r"\b((?:gateway|rabbitmq)_[a-z0-9_]+|up)\b(\{[^}]*\})?(?!\s*\()", expr)
    return sorted({name + matchers for name, matchers in found})


def _dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    queries.append((panel["title"], target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict) and (found := re.match(r"label_values\((\w+),", query.get("query", ""))):
            queries.append((f"variable {variable['name']}", found[1]))
    return queries


def test_every_alert_expression_and_dashboard_query_returns_data(watched: Any, tmp_path: Path) -> None:
    gw, monitoring, _ = watched
    mark = monitoring.receiver.mark()
    # The mixed workload, on top of what the faults above left: good uploads, a file the backend
    # refuses (empty), a poison message, a certificate refused, a response and a deleted status file.
    for service in ("heartbeat", "tax-reports"):
        assert upload(gw, tmp_path, service)
    assert upload(gw, tmp_path, "tax-reports", b"")
    asyncio.run(_park_poison(gw.amqp_url))
    curl(gw.ftps_port, gw.pki, ClientCert.from_pki(gw.pki, "expired"), "/", "--list-only")
    _checked(monitoring.receiver.wait("FtpsGatewayMessagesParked", "firing", {"queue": QUEUE_UPLOADS}, after=mark))
    time.sleep(3)  # a few scrapes of the last counts

    problems = []
    rules = compress_rules(RULES, tmp_path / "rules.yaml", FACTOR)
    for name, rule in rules.items():
        monitoring.query(rule["expr"])  # evaluates without error (an error raises)
        for selector in _selectors(rule["expr"]):
            if selector in SELECTORS_EXPECTED_EMPTY:
                continue
            if not monitoring.query(selector):
                problems.append(f"alert {name}: {selector} has no series")
    for title, expr in _dashboard_queries():
        query = expr.replace("$__rate_interval", "5m").replace('namespace=~"$namespace"', f'namespace="{NAMESPACE}"')
        if not monitoring.query(query) and title not in EXPECTED_EMPTY:
            problems.append(f"dashboard {title}: {query} returned nothing")
        problems += [
            f"dashboard {title}: {sel} has no series" for sel in _selectors(query) if not monitoring.query(sel)
        ]
    assert not problems, "\n".join(problems)
    print(f"\nlive Prometheus: {len(rules)} alert expressions, {len(_dashboard_queries())} dashboard queries checked")
