"""``gateway-adapter new``'s template decisions: names, the port, the entry point, what it refuses.

tests/e2e/test_adapter_scaffold.py installs a scaffolded adapter and runs its test; this checks
the files it writes without installing anything.
"""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import pytest
from gateway_common.adapter import Adapter
from gateway_common.options import RouteOptions
from gateway_common.registry import installed_adapters
from gateway_common.scaffold import FIRST_PORT, scaffold


def test_writes_one_package_named_after_the_adapter(tmp_path: Path) -> None:
    made = scaffold(tmp_path, "archive-box")
    package = tmp_path / "services" / "adapters" / "archive-box"
    assert made == [
        package / "pyproject.toml",
        package / "src" / "gateway_adapter_archive_box" / "__init__.py",
        package / "src" / "gateway_adapter_archive_box" / "py.typed",
        package / "tests" / "test_gateway_adapter_archive_box.py",
    ]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        p.relative_to(tmp_path) for p in made
    )
    project = tomllib.loads(made[0].read_text())
    assert project["project"]["name"] == "gateway-adapter-archive-box"
    entry = project["project"]["entry-points"]["gateway.adapters"]
    assert entry == {"archive-box": "gateway_adapter_archive_box:ArchiveBoxAdapter"}
    assert project["tool"]["uv"]["sources"] == {"gateway-common": {"workspace": True}}
    compile(made[3].read_text(), str(made[3]), "exec")  # the test module is valid Python


def test_the_module_is_an_adapter_on_the_next_free_port(tmp_path: Path) -> None:
    [_, module_file, *_] = scaffold(tmp_path, "archive-box")
    spec = importlib.util.spec_from_file_location("gateway_adapter_archive_box", module_file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    adapter = module.ArchiveBoxAdapter
    assert issubclass(adapter, Adapter)
    assert adapter.name == "archive-box"
    assert issubclass(module.ArchiveBoxOptions, RouteOptions)
    ports = [a.settings_model.model_fields["http_port"].default for a in installed_adapters().values()]
    port = adapter.settings_model.model_fields["http_port"].default
    assert port == max(FIRST_PORT, *(p + 1 for p in ports))
    assert port not in ports


@pytest.mark.parametrize("name", ["Archive", "-archive", "archive_box", "a" * 41, "../escape", ""])
def test_a_name_the_route_table_cannot_use_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(SystemExit, match="an adapter name must match"):
        scaffold(tmp_path, name)
    assert not (tmp_path / "services").exists()


def test_an_existing_folder_or_installed_adapter_is_never_overwritten(tmp_path: Path) -> None:
    scaffold(tmp_path, "archive")
    module = tmp_path / "services/adapters/archive/src/gateway_adapter_archive/__init__.py"
    module.write_text("# the team's work\n")
    with pytest.raises(SystemExit, match="exists already"):
        scaffold(tmp_path, "archive")
    assert module.read_text() == "# the team's work\n"
    with pytest.raises(SystemExit, match="'http' exists already"):
        scaffold(tmp_path, "http")  # installed, though not under this root
    assert not (tmp_path / "services/adapters/http").exists()
