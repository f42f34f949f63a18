"""Process lifecycle shared by every service: logging, the HTTP face, signals, shutdown.

Two promises hold for every service, whatever state it is in:
* a failure to start (bad settings, a taken port, an unreadable file, an invalid route table)
  ends the process with exit code 1 and one error line that says why (``service_main``);
* SIGTERM ends the process within ``GATEWAY_DRAIN_TIMEOUT`` seconds (``exit_after``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from importlib.metadata import PackageNotFoundError, version
from types import FrameType
from typing import Any

from fastapi import FastAPI
from pydantic import ValidationError

from gateway_common import metrics
from gateway_common.health import ReadinessCheck, bind_http, build_health_app, serve_http
from gateway_common.logging import configure_logging, get_logger
from gateway_common.settings import ServiceSettings


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def failure_reason(exc: BaseException) -> str:
    """One line naming what is wrong, with the GATEWAY_* variable when a setting is."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"GATEWAY_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}" for error in exc.errors()
        )
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def service_main(name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Wrap a service's entry point so that any failure is one error line and exit code 1."""

    def decorate(main: Callable[[], None]) -> Callable[[], None]:
        @functools.wraps(main)
        def wrapper() -> None:
            # Settings are not read yet: log as JSON (or console on a terminal) until they are.
            configure_logging(name)
            try:
                main()
            except Exception as exc:
                get_logger(name).error("service failed", reason=failure_reason(exc))
                raise SystemExit(1) from None

        return wrapper

    return decorate


def exit_after(seconds: float, name: str) -> None:
    """End the process after ``seconds`` even if shutting down hangs (a stuck connection, a thread)."""

    def force() -> None:
        get_logger(name).error("service did not stop within its drain time; exiting", drain_timeout=seconds)
        sys.stderr.flush()
        os._exit(1)

    timer = threading.Timer(seconds, force)
    timer.daemon = True
    timer.start()


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
    sock = bind_http(settings)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        # A plain signal handler, unlike loop.add_signal_handler, runs even when the loop is stuck.
        if not stop.is_set():
            exit_after(settings.drain_timeout, name)
        loop.call_soon_threadsafe(stop.set)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    http = asyncio.create_task(serve_http(build_health_app(name, checks, app), sock), name="http")
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
        error = failed[0].exception()
        assert error is not None
        log.error("service failed", reason=failure_reason(error))
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
