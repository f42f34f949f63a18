"""Settings shared by every service, read from ``GATEWAY_*`` environment variables.

Each service subclasses :class:`ServiceSettings` with its own fields and its own default
HTTP port, so that all services can run side by side on one machine without extra config.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    data_dir: Path = Field(
        default=Path("var/data"),
        description="Shared storage: spool, outbox, tenant roots with their /out folders.",
    )
    amqp_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/",
        description="RabbitMQ connection URL.",
    )
    amqp_exchange: str = Field(default="gateway", description="Topic exchange for all events.")
    amqp_prefetch: int = Field(default=32, ge=1, description="Unacked messages per consumer.")
    routes_file: Path = Field(
        default=Path("config/routes.yaml"),
        description="Route table: service name -> adapter and who may use it.",
    )
    log_level: str = Field(default="INFO", description="Python log level.")
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: console on a terminal, JSON otherwise."
    )
    http_host: str = Field(default="0.0.0.0", description="Bind address of /metrics and probes.")
    http_port: int = Field(default=8080, description="Port of /metrics, /healthz and /readyz.")
    drain_timeout: float = Field(
        default=25.0,
        gt=0,
        description="Seconds a service may take after SIGTERM to finish in-flight work; then it exits anyway. "
        "Keep it below the pod's terminationGracePeriodSeconds.",
    )
    node_name: str = Field(default_factory=socket.gethostname, description="Name of this replica in logs and events.")
