"""The adapters installed in this environment, found by their ``gateway.adapters`` entry points.

An adapter package declares itself once, in its pyproject:

    [project.entry-points."gateway.adapters"]
    sftp = "gateway_adapter_sftp:SftpAdapter"

and from then on the router validates routes against its options model, ``gateway-adapter run``
starts it, the settings table documents it and the image build installs it: nothing else lists it.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from gateway_common.adapter import Adapter, options_error
from gateway_common.routes import RouteTable

GROUP = "gateway.adapters"


class RouteTableError(ValueError):
    """A route table that names a missing adapter or gives it options it does not accept."""


def installed_adapters() -> dict[str, type[Adapter[Any]]]:
    """Adapter name -> class, for every installed adapter package."""
    found: dict[str, type[Adapter[Any]]] = {}
    for entry in entry_points(group=GROUP):
        adapter = entry.load()
        if not (isinstance(adapter, type) and issubclass(adapter, Adapter)) or adapter.name != entry.name:
            raise TypeError(f"entry point {entry.name} = {entry.value} is not an Adapter named {entry.name!r}")
        found[entry.name] = adapter
    return dict(sorted(found.items()))


def check_routes(table: RouteTable, adapters: dict[str, type[Adapter[Any]]]) -> None:
    """Refuse a table whose routes name an unknown adapter or options that adapter does not accept."""
    problems: list[str] = []
    for service, route in sorted(table.routes.items()):
        adapter = adapters.get(route.adapter)
        if adapter is None:
            known = ", ".join(adapters) or "none"
            problems.append(f"route {service!r}: adapter {route.adapter!r} is not installed (installed: {known})")
            continue
        try:
            adapter.options_model.model_validate(route.options)
        except ValidationError as exc:
            problems.append(f"route {service!r} (adapter {route.adapter}): options invalid: {options_error(exc)}")
    if problems:
        raise RouteTableError("; ".join(problems))
