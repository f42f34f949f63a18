"""Every service's HTTP face: the probes' answers, the port bound before start, serving on it."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from gateway_common import metrics
from gateway_common.health import bind_http, build_health_app, serve_http
from gateway_common.settings import ServiceSettings

from tests.support.ports import free_port


def _settings(host: str, port: int) -> ServiceSettings:
    return ServiceSettings(demo=True, http_host=host, http_port=port)


def test_probes_answer_each_readiness_reason_and_the_metrics() -> None:
    reasons: dict[str, str | None] = {"broker": None, "disk": None}
    app = build_health_app("router", [lambda: reasons["broker"], lambda: reasons["disk"]])
    metrics.OUT_DELETES.labels(kind="company").inc()
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok", "service": "router"}
        assert (client.get("/readyz").status_code, client.get("/readyz").json()) == (200, {"status": "ready"})
        reasons.update(broker="no broker connection", disk="data volume full")
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json() == {"status": "not ready", "reasons": ["no broker connection", "data volume full"]}
        # Liveness does not depend on readiness: a restart would not bring the broker back.
        assert client.get("/healthz").status_code == 200
        exposition = client.get("/metrics")
        assert exposition.headers["content-type"].startswith("text/plain")
        assert 'gateway_out_deletes_total{kind="company"}' in exposition.text
        # No API documentation is published beside the probes.
        assert client.get("/docs").status_code == 404
        assert client.get("/openapi.json").status_code == 404


def test_the_probes_join_a_services_own_app() -> None:
    app = FastAPI()

    @app.get("/own")
    def own() -> str:
        return "mine"

    assert build_health_app("status", [], app) is app
    with TestClient(app) as client:
        assert client.get("/own").json() == "mine"
        assert client.get("/readyz").json() == {"status": "ready"}


def test_a_taken_port_fails_at_once_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"cannot listen on 127.0.0.1:{port} \(GATEWAY_HTTP_PORT\)"):
            bind_http(_settings("127.0.0.1", port))


def test_an_ipv6_host_gets_an_ipv6_socket() -> None:
    try:
        sock = bind_http(_settings("::1", free_port()))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with sock:
        assert sock.family == socket.AF_INET6
        assert sock.get_inheritable()


async def test_serves_on_the_bound_socket_until_cancelled() -> None:
    port = free_port()
    sock = bind_http(_settings("127.0.0.1", port))
    server = asyncio.create_task(serve_http(build_health_app("router", []), sock))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(100):
            try:
                answer = await client.get("/healthz")
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.05)
        assert answer.json() == {"status": "ok", "service": "router"}
        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server
    assert server.cancelled()
