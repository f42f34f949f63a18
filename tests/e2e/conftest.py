from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import private_vhost
from tests.support.clients import ClientCert
from tests.support.gateway import BIN, Gateway


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    subprocess.run([str(BIN / "gateway-pki"), "demo", "--dir", str(directory)], check=True, capture_output=True)
    return directory


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with private_vhost() as url:
        yield url


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory, pki: Path, amqp_url: str) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("gateway"), pki, amqp_url)
    try:
        gw.start()
        yield gw
    finally:
        gw.stop()
        for service in ("ingress", "router", "status", "adapter-heartbeat", "adapter-http"):
            sys.stderr.write(f"\n--- {service} log (tail) ---\n" + "\n".join(gw.log(service).splitlines()[-15:]))


@pytest.fixture(scope="session")
def cert(pki: Path):
    def make(name: str) -> ClientCert:
        return ClientCert.from_pki(pki, name)

    return make
