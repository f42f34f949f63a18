"""Services fail loudly, stop on SIGTERM and report readiness truthfully (issue 17.1-17.3).

Real processes against the real broker: a service that cannot start exits 1 within seconds with
one error line naming the cause; SIGTERM ends a service within its drain time even while it
hangs on a broker that never answers; /readyz is red while a service's broker connection is
down (the broker refuses it until permissions are restored) and green again once it consumes;
an ordinary broker restart (every connection closed) leaves one warning per service and no
error line.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import BrokerRelay, close_connections, private_vhost, rabbitmqctl, vhost_of
from tests.support.clients import wait_for_status
from tests.support.ftps import greeting
from tests.support.gateway import Gateway
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e
CONSUMERS = ("router", "status", "adapter-heartbeat", "adapter-http")
START_LIMIT = 15.0  # seconds a failing start may take on a loaded 2-core machine
DRAIN = 20.0  # GATEWAY_DRAIN_TIMEOUT of the module's gateway
EMPLOYEE_OUT = "company/30808460"


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _run_to_exit(gw: Gateway, service: str, env: dict[str, str]) -> tuple[int, list[dict[str, object]], float]:
    started = time.monotonic()
    result = subprocess.run(
        gw.command(service),
        env=gw.env(service) | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, _lines(result.stderr + result.stdout), time.monotonic() - started


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory: pytest.TempPathFactory, pki: Path) -> Iterator[Gateway]:
    with private_vhost() as url:
        relay = BrokerRelay()
        gw = Gateway(
            tmp_path_factory.mktemp("lifecycle"), pki, relay.url(url), extra_env={"GATEWAY_DRAIN_TIMEOUT": str(DRAIN)}
        )
        gw.relay = relay  # type: ignore[attr-defined]
        try:
            gw.start()
            yield gw
        finally:
            gw.stop()
            relay.close()


def _bad_routes(gw: Gateway) -> dict[str, str]:
    path = gw.root / "bad-routes.yaml"
    path.write_text("routes:\n  heartbeat: {adapter: 'No Such Adapter!'}\n")
    return {"GATEWAY_ROUTES_FILE": str(path)}


@pytest.mark.parametrize(
    ("service", "cause", "expected"),
    [
        ("router", "port in use", "GATEWAY_HTTP_PORT"),
        ("status", "port in use", "GATEWAY_HTTP_PORT"),
        ("adapter-http", "port in use", "GATEWAY_HTTP_PORT"),
        ("adapter-heartbeat", "port in use", "GATEWAY_HTTP_PORT"),
        ("ingress", "port in use", "GATEWAY_HTTP_PORT"),
        ("ingress", "FTPS port in use", "Address already in use"),
        ("status", "bad setting", "GATEWAY_AMQP_PREFETCH"),
        ("ingress", "unreadable certificate", "/nonexistent/server.pem"),
        ("router", "invalid route table", "No Such Adapter!"),
    ],
)
def test_a_failed_start_exits_at_once_with_one_clear_line(
    lifecycle: Gateway, service: str, cause: str, expected: str
) -> None:
    env = {
        "port in use": {"GATEWAY_HTTP_PORT": str(lifecycle.http_ports["router"])},  # the running router's
        "FTPS port in use": {"GATEWAY_FTPS_PORT": str(lifecycle.ftps_port), "GATEWAY_HTTP_PORT": "0"},
        "bad setting": {"GATEWAY_AMQP_PREFETCH": "0"},
        "unreadable certificate": {"GATEWAY_TLS_CERT_FILE": "/nonexistent/server.pem"},
        "invalid route table": _bad_routes(lifecycle),
    }[cause]
    code, lines, took = _run_to_exit(lifecycle, service, env)
    errors = [line for line in lines if line.get("level") in ("error", "critical")]
    assert code == 1, lines
    assert took < START_LIMIT, f"{service} took {took:.1f}s to give up"
    assert len(errors) == 1, errors
    assert expected in str(errors[0]["reason"]), errors[0]


class _SilentBroker:
    """A TCP port that accepts connections and never says a word: a broker that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"amqp://guest:guest@127.0.0.1:{self.sock.getsockname()[1]}/"

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("service", ["router", "status", "adapter-heartbeat", "adapter-http", "ingress"])
def test_sigterm_ends_a_service_stuck_on_the_broker_within_its_drain_time(lifecycle: Gateway, service: str) -> None:
    silent = _SilentBroker()
    drain = 3.0
    env = lifecycle.env(service) | {
        "GATEWAY_AMQP_URL": silent.url,
        "GATEWAY_DRAIN_TIMEOUT": str(drain),
        "GATEWAY_HTTP_PORT": "0",
        "GATEWAY_FTPS_PORT": "0",
    }
    proc = subprocess.Popen(lifecycle.command(service), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(2.0)  # it is now connecting, and will wait for an answer that never comes
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=drain + 10)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        silent.close()
    assert took < drain + 2.0, f"{service} took {took:.1f}s after SIGTERM (drain time {drain}s)"


def _ready(gw: Gateway, service: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{gw.http_ports[service]}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:  # not listening (yet), or too slow
        return 0, repr(exc)


def test_readyz_is_red_without_the_broker_and_green_once_consuming_again(lifecycle: Gateway) -> None:
    vhost = vhost_of(lifecycle.amqp_url)
    for service in CONSUMERS:
        assert _ready(lifecycle, service)[0] == 200
    # The broker now refuses the services' reconnections until their permissions come back.
    rabbitmqctl("clear_permissions", "-p", vhost, "guest")
    try:
        close_connections(lifecycle.amqp_url)
        for service in CONSUMERS:
            eventually(lambda s=service: _ready(lifecycle, s)[0] == 503, f"{service} /readyz red", timeout=30, poll=0.2)
        time.sleep(3)  # several refused reconnection attempts later, still red
        for service in CONSUMERS:
            code, body = _ready(lifecycle, service)
            assert code == 503, (service, body)
            assert "broker" in body, (service, body)
    finally:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    for service in CONSUMERS:
        eventually(
            lambda s=service: _ready(lifecycle, s)[0] == 200, f"{service} /readyz green again", timeout=60, poll=0.2
        )
    queues = ("gateway.router.uploads", "gateway.status.events", "gateway.adapter.heartbeat", "gateway.adapter.http")

    def consumed() -> bool:
        listing = rabbitmqctl("list_queues", "-p", vhost, "name", "consumers", "--no-table-headers")
        counts = dict(line.split("\t") for line in listing.splitlines() if "\t" in line)
        return all(int(counts.get(queue, 0)) >= 1 for queue in queues)

    # The broker's consumer counts can trail the consumers' registration by a moment.
    eventually(consumed, f"a consumer on each of {queues}", timeout=15, poll=0.2)


def test_a_broker_restart_logs_one_warning_per_service_and_no_error(lifecycle: Gateway) -> None:
    services = (*CONSUMERS, "ingress")
    offsets = {service: len(lifecycle.log(service)) for service in services}
    # Every connection cut, and the broker unreachable for 6 s: several reconnection attempts fail.
    lifecycle.relay.outage(6)  # type: ignore[attr-defined]
    for service in CONSUMERS:
        eventually(
            lambda s=service: _ready(lifecycle, s)[0] == 200, f"{service} ready after the restart", timeout=60, poll=0.2
        )
    eventually(
        lambda: all("broker connection restored" in lifecycle.log(s)[offsets[s] :] for s in services),
        "every service logged that its broker connection was restored",
        timeout=60,
        poll=0.2,
    )
    for service in services:
        lines = _lines(lifecycle.log(service)[offsets[service] :])
        errors = [line for line in lines if line.get("level") in ("error", "critical")]
        warnings = [line for line in lines if line.get("level") == "warning"]
        assert errors == [], (service, errors)
        assert [line["event"] for line in warnings] == ["broker connection lost; reconnecting"], (service, warnings)


def test_sigterm_lets_a_running_upload_finish_refuses_new_logins_and_exits_0(
    lifecycle: Gateway, cert: object, tmp_path: Path
) -> None:
    client = cert("employee")  # type: ignore[operator]
    payload = tmp_path / "drain-upload.bin"
    payload.write_bytes(os.urandom(1 << 20) * 40)  # 40 MiB at 8 MiB/s: about 5 s on the wire
    ingress = lifecycle.procs["ingress"]
    upload = subprocess.Popen(
        [
            "curl", "--silent", "--show-error", "--ssl-reqd", "--cacert", str(lifecycle.pki / "server-ca.pem"),
            "--cert", str(client.pem), "--key", str(client.key), "-u", "anonymous:guest",
            "--limit-rate", "8M", "--max-time", "60", "-T", str(payload),
            f"ftp://127.0.0.1:{lifecycle.ftps_port}/heartbeat/drain-upload",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    spool = lifecycle.data_dir / "spool"
    # A payload arrives as spool/<shard>/<gateway_txid>/.tmp-payload and becomes payload at its 226.
    eventually(
        lambda: any(p.stat().st_size > (4 << 20) for p in spool.glob("*/*/*payload")),
        "the upload under way",
        timeout=30,
        poll=0.2,
    )
    sent = time.monotonic()
    ingress.send_signal(signal.SIGTERM)
    # The ingress refuses new sessions once it has handled the signal, in its own time.
    eventually(lambda: greeting(lifecycle.ftps_port).startswith("421 "), "new sessions refused", timeout=5, poll=0.1)
    refused = greeting(lifecycle.ftps_port)
    assert "reconnect" in refused, refused
    assert _ready(lifecycle, "ingress") == (503, '{"status":"not ready","reasons":["shutting down"]}')
    _, errors = upload.communicate(timeout=60)
    assert upload.returncode == 0, errors  # curl says 0 only after the 226
    assert ingress.wait(timeout=30) == 0
    assert time.monotonic() - sent < DRAIN
    wait_for_status(lifecycle.out_dir(EMPLOYEE_OUT), "status_heartbeat_drain-upload.xml", 2, timeout=30)
    lifecycle.start_service("ingress")
    lifecycle.wait_ready("ingress")
