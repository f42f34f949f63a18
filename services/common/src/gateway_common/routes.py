"""The route table: which Backend System / Business Service goes to which adapter, and who may use it.

Loaded from YAML (``GATEWAY_ROUTES_FILE``) and re-read when the file changes, so a ConfigMap
update takes effect without a restart.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway_common.identity import CertificateKind, Identity

SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ADAPTER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


class Allow(BaseModel):
    """Who may use a route. Empty lists for cvrs/pids mean: any of the allowed kinds."""

    model_config = ConfigDict(extra="forbid")

    kinds: list[CertificateKind] = Field(default_factory=lambda: list(CertificateKind))
    cvrs: list[str] = Field(default_factory=list)
    pids: list[str] = Field(default_factory=list)

    def permits(self, identity: Identity) -> bool:
        if identity.kind not in self.kinds:
            return False
        if self.cvrs and identity.cvr not in self.cvrs:
            return False
        return not (self.pids and identity.kind is CertificateKind.PERSONAL and identity.subject_id not in self.pids)


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")

    adapter: str
    description: str = ""
    allow: Allow = Field(default_factory=Allow)
    # Scalars as the Dispatch message carries them (strings); the adapter's options model types them.
    options: dict[str, str] = Field(default_factory=dict)
    max_file_size: int | None = Field(default=None, gt=0, description="Bytes; None: no limit.")

    @field_validator("options", mode="before")
    @classmethod
    def _options_as_text(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        # YAML `timeout: 30` or `enabled: true` arrive as the text the adapter would parse anyway.
        return {
            key: (str(item).lower() if isinstance(item, bool) else str(item))
            if isinstance(item, int | float | bool)
            else item
            for key, item in value.items()
        }

    @field_validator("adapter")
    @classmethod
    def _adapter_name(cls, value: str) -> str:
        if not ADAPTER_NAME.fullmatch(value):
            raise ValueError(f"adapter name {value!r} must match {ADAPTER_NAME.pattern}")
        return value


class RouteTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routes: dict[str, Route] = Field(default_factory=dict)

    @field_validator("routes")
    @classmethod
    def _service_names(cls, value: dict[str, Route]) -> dict[str, Route]:
        for name in value:
            if not SERVICE_NAME.fullmatch(name):
                raise ValueError(f"service name {name!r} must match {SERVICE_NAME.pattern}")
        return value

    def permitted_services(self, identity: Identity) -> list[str]:
        return sorted(name for name, route in self.routes.items() if route.allow.permits(identity))

    def adapters(self) -> set[str]:
        return {route.adapter for route in self.routes.values()}


RouteCheck = Callable[[RouteTable], None]


def load_routes(path: Path, check: RouteCheck | None = None) -> RouteTable:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    table = RouteTable.model_validate(data)
    if check is not None:
        check(table)
    return table


class RouteTableSource:
    """The current route table, re-read at most once per ``interval`` when the file changed.

    A file that fails to parse, or that ``check`` refuses, keeps the last good table in force
    (``last_error`` says why), so a bad ConfigMap edit cannot take the gateway down; at start-up
    the same failure raises, so a bad table is refused before the first file.
    """

    def __init__(self, path: Path, interval: float = 2.0, check: RouteCheck | None = None) -> None:
        self.path = path
        self.interval = interval
        self.check = check
        self._lock = threading.Lock()
        self._table = load_routes(path, check)
        self._mtime = path.stat().st_mtime_ns
        self._checked = time.monotonic()
        self.last_error: str | None = None

    def current(self) -> RouteTable:
        now = time.monotonic()
        if now - self._checked < self.interval:
            return self._table
        with self._lock:
            self._checked = now
            try:
                mtime = self.path.stat().st_mtime_ns
                if mtime != self._mtime:
                    self._table = load_routes(self.path, self.check)
                    self._mtime = mtime
                    self.last_error = None
            except (OSError, ValueError, yaml.YAMLError) as exc:
                self.last_error = f"route table {self.path}: {exc}"
            return self._table
