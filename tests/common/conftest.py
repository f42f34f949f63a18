"""Fixtures of the gateway_common unit tests."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator

import pytest
import structlog

LIBRARIES = ("aio_pika", "aiormq", "pyftpdlib", "uvicorn.access", "httpx")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; give the next test the state this one found."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    libraries = {name: logging.getLogger(name).level for name in LIBRARIES}
    config = structlog.get_config()
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, old in libraries.items():
            logging.getLogger(name).setLevel(old)
        structlog.configure(**config)


@pytest.fixture
def restore_signals() -> Iterator[None]:
    """run_service installs SIGTERM and SIGINT handlers; put pytest's back afterwards."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
