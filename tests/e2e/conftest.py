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


# The second gateway's settings: active mode,
# tight limits that tests can reach quickly, and a PROXY-protocol balancer at PROXY_SOURCE.
PROXY_SOURCE = "127.0.0.9"
ALT_LIMITS = {
    "idle_timeout": 3,
    "max_connections_per_ip": 3,
    "max_logins_per_minute_per_ip": 5,
    "max_tls_handshakes_per_minute_per_ip": 10,
    "login_timeout": 2,
    "data_handshake_timeout": 2,
    "passive_timeout": 2,
}
ALT_OUT_QUOTA = 100_000


@pytest.fixture(scope="session")
def alt_gateway(tmp_path_factory: pytest.TempPathFactory, pki: Path) -> Iterator[Gateway]:
    env = {
        "GATEWAY_ACTIVE_MODE": "true",
        "GATEWAY_OUT_QUOTA_BYTES": str(ALT_OUT_QUOTA),
        "GATEWAY_PROXY_PROTOCOL": "auto",
        "GATEWAY_PROXY_TRUSTED_CIDRS": f"{PROXY_SOURCE}/32",
        **{f"GATEWAY_{name.upper()}": str(value) for name, value in ALT_LIMITS.items()},
    }
    with private_vhost() as amqp_url:  # its own, or the two gateways would consume each other's events
        gw = Gateway(tmp_path_factory.mktemp("alt-gateway"), pki, amqp_url, extra_env=env)
        try:
            gw.start()
            yield gw
        finally:
            gw.stop()
            sys.stderr.write("\n--- alt ingress log (tail) ---\n" + "\n".join(gw.log("ingress").splitlines()[-15:]))
