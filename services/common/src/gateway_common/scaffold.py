"""``gateway-adapter new NAME``: a new adapter package that works and is tested from the start.

It writes ``services/adapters/NAME/`` only: a pyproject that declares the adapter (the
``gateway.adapters`` entry point), one module with the options model, the settings and the
adapter, and a test that uses the adapter test kit. The example adapter drops each file into a
folder; a team replaces ``deliver`` with the call its backend needs. Everything else (workspace,
`make run`, settings table, image build, skaffold, router validation) discovers the package.
"""

from __future__ import annotations

from pathlib import Path

from gateway_common.registry import installed_adapters
from gateway_common.routes import ADAPTER_NAME

FIRST_PORT = 9110  # above the built-in services' ports

PYPROJECT = """\
[project]
name = "gateway-adapter-{name}"
version = "0.1.0"
description = "Delivers gateway uploads to the {name} backend"
requires-python = ">=3.11"
dependencies = [
    "gateway-common",
]

[project.entry-points."gateway.adapters"]
{name} = "{module}:{camel}Adapter"

[build-system]
requires = ["uv_build>=0.9,<0.14"]
build-backend = "uv_build"

[tool.uv.sources]
gateway-common = {{ workspace = true }}
"""

MODULE = '''\
"""The {name} adapter: delivers gateway uploads to the {name} backend.

Route options ({camel}Options, checked by the router before the first file):
    folder    where the backend picks files up (this example drops each file there)

Replace ``deliver`` with the call your backend needs; keep its promises: raise TransientError
when a retry may help, PermanentError when it cannot, and make a redelivery of the same
transaction (same ``delivery.idempotency_key``) harmless.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from gateway_common.adapter import Accepted, Adapter, AdapterSettings, Delivery, PermanentError, TransientError
from gateway_common.options import RouteOptions
from gateway_common.storage import atomic_copy
from pydantic import Field


class {camel}Settings(AdapterSettings):
    http_port: int = Field(default={port}, description="Port of /metrics and probes.")


class {camel}Options(RouteOptions):
    folder: Path


@dataclass
class {camel}Adapter(Adapter[{camel}Options]):
    name = "{name}"
    settings_model = {camel}Settings

    async def deliver(self, delivery: Delivery[{camel}Options]) -> Accepted:
        folder = delivery.options.folder
        if not await asyncio.to_thread(folder.is_dir):
            reason = f"{{folder}} is not a folder"
            raise PermanentError("backend_folder_missing", reason, "Contact the gateway operators.")
        # The transaction id in the name makes a redelivery find the file instead of making a copy.
        target = folder / f"{{delivery.idempotency_key}}_{{delivery.upload.file_name}}"
        if not await asyncio.to_thread(target.exists):
            try:
                await asyncio.to_thread(atomic_copy, delivery.path, target)
            except OSError as exc:
                raise TransientError("backend_write_failed", f"cannot write {{target.name}}: {{exc.strerror}}") from exc
        return Accepted(backend_txid=target.name)
'''

TEST = '''\
"""The {name} adapter, tested alone with the gateway's adapter test kit (no broker needed)."""

from __future__ import annotations

from pathlib import Path

from {module} import {camel}Adapter
from gateway_common.testing import deliver, spool, started, upload_event


async def test_delivers_the_file_once_even_when_delivered_twice(tmp_path: Path) -> None:
    backend = tmp_path / "backend"
    backend.mkdir()
    upload = upload_event(spool(tmp_path, b"<report/>\\n"), tmp_path, file_name="report.xml")
    async with started({camel}Adapter) as adapter:
        first = await deliver(adapter, upload, {{"folder": str(backend)}}, tmp_path)
        again = await deliver(adapter, upload, {{"folder": str(backend)}}, tmp_path, attempt=2)
    assert (first.result, again.result) == ("accepted", "accepted")
    assert [p.name for p in backend.iterdir()] == [f"{{upload.gateway_txid}}_report.xml"]
    assert (backend / f"{{upload.gateway_txid}}_report.xml").read_bytes() == b"<report/>\\n"


async def test_a_missing_folder_fails_the_transaction_with_the_reason(tmp_path: Path) -> None:
    async with started({camel}Adapter) as adapter:
        outcome = await deliver(adapter, b"x", {{"folder": str(tmp_path / "missing")}}, tmp_path)
    assert outcome.result == "refused"
    assert outcome.error is not None
    assert outcome.error.code == "backend_folder_missing"
'''


def scaffold(root: Path, name: str) -> list[Path]:
    """Write the package of adapter ``name`` under ``root``/services/adapters; return the files made."""
    if not ADAPTER_NAME.fullmatch(name):
        raise SystemExit(f"gateway-adapter: an adapter name must match {ADAPTER_NAME.pattern}, got {name!r}")
    folder = root / "services" / "adapters" / name
    if folder.exists() or name in installed_adapters():
        raise SystemExit(f"gateway-adapter: adapter {name!r} exists already ({folder})")
    module = f"gateway_adapter_{name.replace('-', '_')}"
    ports = [adapter.settings_model.model_fields["http_port"].default for adapter in installed_adapters().values()]
    fields = {
        "name": name,
        "module": module,
        "camel": "".join(part.capitalize() for part in name.split("-")),
        "port": max([FIRST_PORT - 1, *ports]) + 1,
    }
    files = {
        folder / "pyproject.toml": PYPROJECT,
        folder / "src" / module / "__init__.py": MODULE,
        folder / "src" / module / "py.typed": "",
        folder / "tests" / f"test_{module}.py": TEST,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields), encoding="utf-8")
    return list(files)
