"""Prints the README's configuration table from the services' settings classes.

`make docs` rewrites the table in README.md; a test fails when the README is out of date.
"""

from __future__ import annotations

import json
import re
import sys
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


def render(readme: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    return pattern.sub(f"{BEGIN}\n{table()}\n{END}", readme)


def main() -> None:
    readme = Path("README.md")
    updated = render(readme.read_text())
    if "--check" in sys.argv:
        if updated != readme.read_text():
            sys.exit("README.md's configuration table is out of date: run `make docs`")
        return
    readme.write_text(updated)


if __name__ == "__main__":
    main()
