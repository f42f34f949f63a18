"""The installed adapters, found by entry point, and route tables checked against them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gateway_adapter_http.adapter import HttpAdapter
from gateway_common.adapter import Adapter
from gateway_common.registry import GROUP, RouteTableError, check_routes, installed_adapters
from gateway_common.routes import RouteTable


def _install(site: Path, entries: str) -> None:
    """A real distribution's metadata on a path entry, as pip or uv would leave it."""
    info = site / "gateway_extra-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gateway-extra\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{entries}\n")


def test_each_installed_adapter_is_its_class_under_its_own_name() -> None:
    adapters = installed_adapters()
    assert list(adapters) == sorted(adapters)
    assert adapters["http"] is HttpAdapter
    assert all(issubclass(cls, Adapter) and cls.name == name for name, cls in adapters.items())


@pytest.mark.parametrize(
    "entry",
    [
        "bogus = json:loads",  # not an Adapter at all
        "courier = gateway_adapter_http.adapter:HttpAdapter",  # an Adapter under another name
    ],
)
def test_an_entry_point_that_is_no_adapter_of_its_name_stops_discovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    _install(tmp_path, entry)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = entry.split(" = ", maxsplit=1)[0]
    with pytest.raises(TypeError, match=f"entry point {name} = .* is not an Adapter named '{name}'"):
        installed_adapters()


def _table(routes: dict[str, Any]) -> RouteTable:
    return RouteTable.model_validate({"routes": routes})


def test_every_problem_of_a_table_is_named_in_one_refusal_in_route_order() -> None:
    table = _table(
        {
            "zeta": {"adapter": "http", "options": {"url": "https://b.example", "colour": "red"}},
            "alpha": {"adapter": "archive"},
            "mid": {"adapter": "http", "options": {"url": "https://b.example"}},
        }
    )
    with pytest.raises(RouteTableError) as refused:
        check_routes(table, installed_adapters())
    problems = str(refused.value).split("; ")
    assert len(problems) == 2
    assert problems[0].startswith("route 'alpha': adapter 'archive' is not installed (installed: heartbeat, http, sftp")
    assert problems[1].startswith("route 'zeta' (adapter http): options invalid: colour")


def test_with_no_adapters_installed_every_route_is_refused() -> None:
    with pytest.raises(RouteTableError, match=r"adapter 'http' is not installed \(installed: none\)"):
        check_routes(_table({"tax": {"adapter": "http", "options": {"url": "https://b.example"}}}), {})
    check_routes(_table({}), {})  # an empty table needs no adapter
