from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gateway_pki.demo import build_demo


@pytest.fixture(scope="session")
def demo_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ingress-pki")
    build_demo(directory)
    return directory


@pytest.fixture(scope="session")
def demo_index(demo_pki: Path) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in json.loads((demo_pki / "clients" / "index.json").read_text())}
