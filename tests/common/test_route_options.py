"""Route options are typed by the adapter they name and checked before the first file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from gateway_adapter_http.adapter import HttpAdapter
from gateway_common.options import SecretRef
from gateway_common.registry import RouteTableError, check_routes, installed_adapters
from gateway_common.routes import RouteTable, RouteTableSource
from gateway_common.testing import deliver, started

from tests.support.ports import free_port

BIN = Path(sys.executable).parent
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def _check(routes: dict[str, Any]) -> None:
    check_routes(RouteTable.model_validate({"routes": routes}), installed_adapters())


def test_the_built_in_adapters_are_discovered() -> None:
    assert {"heartbeat", "http", "sftp"} <= set(installed_adapters())


def test_a_valid_table_passes_and_yaml_scalars_become_text() -> None:
    table = RouteTable.model_validate(
        {"routes": {"tax": {"adapter": "http", "options": {"url": "https://b.example/f", "timeout": 30}}}}
    )
    check_routes(table, installed_adapters())
    assert table.routes["tax"].options == {"url": "https://b.example/f", "timeout": "30"}


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        ({"tax": {"adapter": "http"}}, "route 'tax' (adapter http): options invalid: url: Field required"),
        (
            {"tax": {"adapter": "http", "options": {"url": "ftp:x"}}},
            "route 'tax' (adapter http): options invalid: url:",
        ),
        (
            {"tax": {"adapter": "http", "options": {"url": "https://b.example", "tiemout": "5"}}},
            "tiemout: Extra inputs are not permitted",
        ),
        ({"tax": {"adapter": "http", "options": {"url": "https://b.example", "timeout": "-1"}}}, "timeout:"),
        ({"x": {"adapter": "nosuch"}}, "route 'x': adapter 'nosuch' is not installed (installed: heartbeat, http"),
        (
            {"legacy": {"adapter": "sftp", "options": {"host": "h", "username": "u", "private_key": "file:/k"}}},
            "route 'legacy' (adapter sftp): options invalid: host_key: Field required",
        ),
        (
            {
                "legacy": {
                    "adapter": "sftp",
                    "options": {
                        "host": "h",
                        "username": "u",
                        "private_key": "file:/k",
                        "host_key": HOST_KEY,
                        "name_template": "{file_name}",
                    },
                }
            },
            "name_template: Value error, must contain {gateway_txid}",
        ),
    ],
)
def test_a_bad_route_is_refused_naming_the_route_and_the_field(routes: dict[str, Any], expected: str) -> None:
    with pytest.raises(RouteTableError) as raised:
        _check(routes)
    assert expected in str(raised.value)


@pytest.mark.parametrize("inline", ["s3cr3t-t0ken", "-----BEGIN OPENSSH PRIVATE KEY-----", "env:", "file:relative"])
def test_an_inline_secret_is_refused_and_never_repeated(inline: str) -> None:
    with pytest.raises(RouteTableError) as raised:
        _check({"tax": {"adapter": "http", "options": {"url": "https://b.example", "token": inline}}})
    message = str(raised.value)
    assert "token: Value error, must reference a secret as env:VARIABLE_NAME or file:/absolute/path" in message
    assert inline not in message.replace("env:VARIABLE_NAME", "").replace("file:/absolute/path", "")


def test_secret_references_read_the_environment_or_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_TEST_TOKEN", "from-env\n")
    (tmp_path / "token").write_text("from-file\n")
    assert SecretRef.parse("env:GATEWAY_TEST_TOKEN").reveal() == "from-env"
    assert SecretRef.parse(f"file:{tmp_path}/token").reveal() == "from-file"


async def test_an_unset_token_refuses_the_file_instead_of_sending_an_empty_bearer(tmp_path: Path) -> None:
    os.environ.pop("GATEWAY_TEST_UNSET_TOKEN", None)
    options = {"url": f"http://127.0.0.1:{free_port()}/files", "token": "env:GATEWAY_TEST_UNSET_TOKEN"}
    async with started(HttpAdapter) as adapter:
        outcome = await deliver(adapter, b"<x/>", options, tmp_path)
    # Refused before any request: an attempt would have been "retry" (nothing listens on the port).
    assert outcome.result == "refused"
    assert outcome.error is not None
    assert outcome.error.code == "route_misconfigured"
    assert "env:GATEWAY_TEST_UNSET_TOKEN" in outcome.error.message


def _write(path: Path, routes: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump({"routes": routes}))
    # A new mtime even on coarse-grained filesystems.
    stamp = time.time_ns() + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


def test_a_reload_with_a_bad_route_keeps_the_last_good_table_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    _write(path, {"tax": {"adapter": "http", "options": {"url": "https://b.example"}}})
    source = RouteTableSource(path, interval=0, check=lambda table: check_routes(table, installed_adapters()))
    _write(path, {"tax": {"adapter": "http", "options": {"url": "https://b.example", "token": "inline"}}})
    assert source.current().routes["tax"].options == {"url": "https://b.example"}
    assert source.last_error is not None
    assert "route 'tax' (adapter http): options invalid: token:" in source.last_error


def test_the_router_refuses_to_start_with_a_bad_table(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    _write(routes, {"tax": {"adapter": "http", "options": {"timeout": "5"}}})
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")} | {
        "GATEWAY_DEMO": "true",
        "GATEWAY_ROUTES_FILE": str(routes),
        "GATEWAY_HTTP_PORT": str(free_port()),
        "GATEWAY_DATA_DIR": str(tmp_path / "data"),
    }
    result = subprocess.run(
        [str(BIN / "gateway-router")], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "refusing the route table" in result.stderr
    assert "route 'tax' (adapter http): options invalid: url: Field required" in result.stderr
