"""Process lifecycle shared by every service: logging, the HTTP face, signals, shutdown."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI

from gateway_common import metrics
from gateway_common.health import ReadinessCheck, build_health_app, serve_http
from gateway_common.logging import configure_logging, get_logger
from gateway_common.settings import ServiceSettings


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


async def _run(
    name: str,
    settings: ServiceSettings,
    main: Callable[[], Coroutine[Any, Any, None]],
    checks: list[ReadinessCheck],
    app: FastAPI | None,
) -> None:
    log = get_logger(name)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    http = asyncio.create_task(serve_http(build_health_app(name, checks, app), settings), name="http")
    work = asyncio.create_task(main(), name="main")
    stopper = asyncio.create_task(stop.wait(), name="stop")
    log.info("service started", http_port=settings.http_port, data_dir=str(settings.data_dir))
    tasks: set[asyncio.Task[Any]] = {http, work, stopper}
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    failed = [task for task in done if task is not stopper and not task.cancelled() and task.exception()]
    if failed:
        log.error("service failed", error=repr(failed[0].exception()))
        raise SystemExit(1)
    log.info("service stopped")


def run_service(
    name: str,
    settings: ServiceSettings,
    main: Callable[[], Coroutine[Any, Any, None]],
    checks: list[ReadinessCheck] | None = None,
    app: FastAPI | None = None,
) -> None:
    """Run ``main`` with /healthz, /readyz and /metrics beside it until SIGTERM or SIGINT."""
    configure_logging(name, settings.log_level, settings.log_format)
    metrics.BUILD_INFO.info({"service": name, "version": _version(f"gateway-{name}")})
    asyncio.run(_run(name, settings, main, checks or [], app))
