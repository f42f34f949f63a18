"""structlog configuration: JSON lines for machines, a console renderer for people."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

# What the AMQP client libraries log about a lost broker connection and each attempt to get it
# back: a routine broker restart made about 20 such lines per service, half of them errors, so
# an alert on error-log rates paged on every restart. The Bus logs the loss once as a warning
# (and /readyz and gateway_amqp_connected show it); these lines only appear at DEBUG.
RECONNECT_NOISE = (
    "Cancelling cause reader exited abnormally",
    "error when creating transport",
    "Connection attempt to ",
    "Callback <OneShotCallback: cb=<bound method RobustChannel._on_close",
)


class ReconnectNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("aio_pika", "aiormq")) or record.levelno < logging.WARNING:
            return True
        if not record.getMessage().startswith(RECONNECT_NOISE):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def configure_logging(service: str, level: str = "INFO", fmt: str = "auto") -> None:
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())

    def add_service(_: Any, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
        # Threads (the FTP loop, executors) do not inherit contextvars, so name the process here;
        # "service" in log lines means the Backend System / Business Service.
        event.setdefault("component", service)
        return event

    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_service,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.types.Processor
    if use_console:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    else:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(ReconnectNoise())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter (connection retries, per-command FTP lines) stays out of INFO.
    for noisy in ("aio_pika", "aiormq", "pyftpdlib", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str, **initial: Any) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger.bind(**initial) if initial else logger
