from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_pki.demo import build_demo

from tests.support.broker import private_vhost
from tests.support.ingress import Ingress, running_ingress
from tests.support.pki_server import PkiServer


@pytest.fixture(scope="session")
def demo_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ingress-pki")
    build_demo(directory)
    return directory


@pytest.fixture(scope="session")
def demo_index(demo_pki: Path) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in json.loads((demo_pki / "clients" / "index.json").read_text())}


@pytest.fixture(scope="module")
def module_vhost() -> Iterator[str]:
    """A vhost per test module that runs a server: its uploads' events stay out of other modules' queues."""
    with private_vhost() as url:
        yield url


@pytest.fixture(scope="module")
def ingress(tmp_path_factory: pytest.TempPathFactory, demo_pki: Path, module_vhost: str) -> Iterator[Ingress]:
    """The FTPS server with default settings, shared by the tests of a module (each uses its own names)."""
    with running_ingress(tmp_path_factory.mktemp("ingress"), demo_pki, module_vhost) as server:
        yield server


@pytest.fixture(scope="module")
def responder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PkiServer]:
    """A demo PKI whose certificates name a local OCSP responder (and CRL server), and that server."""
    pki = tmp_path_factory.mktemp("ocsp-pki")
    server = PkiServer(pki)
    try:
        build_demo(pki, base_url=server.url)
        yield server
    finally:
        server.stop()
