"""Settings shared by every service, read from ``GATEWAY_*`` environment variables.

Each service subclasses :class:`ServiceSettings` with its own fields and its own default
HTTP port, so that all services can run side by side on one machine without extra config.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, model_validator
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
    demo: bool = Field(
        default=False,
        description="Local demo and tests only: accept the broker's default credentials (guest:guest).",
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

    @model_validator(mode="after")
    def _no_default_credentials(self) -> Self:
        # guest:guest is every RabbitMQ's first account; a deployment that still uses it has an
        # open broker, so it must be a conscious demo choice (`make run` and the tests set it).
        parts = urlsplit(self.amqp_url)
        if not self.demo and (parts.username or "guest") == "guest" and (parts.password or "guest") == "guest":
            raise ValueError(
                "GATEWAY_AMQP_URL uses the broker's default credentials (guest:guest): give the gateway its "
                "own RabbitMQ user, or set GATEWAY_DEMO=true for a local demo"
            )
        return self
