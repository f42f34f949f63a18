"""Prints the README's configuration table from the services' settings classes.

`make docs` rewrites the table in README.md; a test fails when the README is out of date.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from gateway_common.registry import installed_adapters
from gateway_common.settings import ServiceSettings
from gateway_ingress.settings import IngressSettings
from gateway_router.settings import RouterSettings
from gateway_status.settings import StatusSettings
from pydantic_settings import BaseSettings

BEGIN = "<!-- settings-table:begin -->"
END = "<!-- settings-table:end -->"
# Adapters are found by their entry points, so a new adapter's settings appear without an edit here.
SERVICES: dict[str, type[BaseSettings]] = {
    "ingress": IngressSettings,
    "router": RouterSettings,
    "status": StatusSettings,
} | {f"adapter-{name}": adapter.settings_model for name, adapter in installed_adapters().items()}


def _default(settings: type[BaseSettings], name: str) -> str:
    field = settings.model_fields[name]
    if name == "node_name":
        return "(host name)"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


def table() -> str:
    rows = ["| Variable | Used by | Default | Meaning |", "|---|---|---|---|"]
    names: dict[str, list[str]] = {}
    for service, settings in SERVICES.items():
        for name in settings.model_fields:
            names.setdefault(name, []).append(service)
    for name, services in names.items():
        shared = name in ServiceSettings.model_fields and name != "http_port"
        owner = SERVICES[services[0]]
        field = owner.model_fields[name]
        used_by = "all services" if shared and len(services) == len(SERVICES) else ", ".join(services)
        default = _default(owner, name)
        if name == "http_port":
            default = ", ".join(f"{s} {_default(SERVICES[s], name)}" for s in services)
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `GATEWAY_{name.upper()}` | {used_by} | `{default}` | {description} |")
    return "\n".join(rows)


def between_markers(text: str, begin: str, end: str, body: str) -> str:
    """``text`` with what stands between the markers ``begin`` and ``end`` replaced by ``body``."""
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    return pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text)


def regenerate(path: Path, render: Callable[[str], str], what: str) -> None:
    """Rewrite ``path`` with ``render``; with --check, fail instead when it is out of date."""
    current = path.read_text()
    updated = render(current)
    if "--check" in sys.argv:
        if updated != current:
            sys.exit(f"{path}'s {what} is out of date: run `make docs`")
        return
    path.write_text(updated)


def render(readme: str) -> str:
    return between_markers(readme, BEGIN, END, table())


def main() -> None:
    regenerate(Path("README.md"), render, "configuration table")


if __name__ == "__main__":
    main()
