"""The small HTTP face of every service: /healthz, /readyz and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway_common.settings import ServiceSettings

# A readiness check returns None when ready, or the reason it is not.
ReadinessCheck = Callable[[], str | None]


def build_health_app(service: str, checks: list[ReadinessCheck], app: FastAPI | None = None) -> FastAPI:
    app = app or FastAPI(title=service, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        reasons = [reason for check in checks if (reason := check()) is not None]
        if reasons:
            return JSONResponse({"status": "not ready", "reasons": reasons}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def bind_http(settings: ServiceSettings) -> socket.socket:
    """Bind the HTTP port before anything else starts, so a taken port fails the start at once.

    uvicorn binds on its own only after the service is running and then calls sys.exit() inside
    the event loop, which left services half-alive (no /metrics, no consumer, deaf to SIGTERM).
    """
    family = socket.AF_INET6 if ":" in settings.http_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.http_host, settings.http_port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(
            exc.errno, f"cannot listen on {settings.http_host}:{settings.http_port} (GATEWAY_HTTP_PORT): {exc.strerror}"
        ) from None
    sock.set_inheritable(True)
    return sock


async def serve_http(app: FastAPI, sock: socket.socket) -> None:
    """Serve on the bound ``sock`` until cancelled, inside the caller's event loop."""
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    # The service owns signal handling and shutdown; uvicorn must not capture signals.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    try:
        await server.serve(sockets=[sock])
    except asyncio.CancelledError:
        server.should_exit = True
        raise
