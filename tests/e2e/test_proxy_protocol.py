"""The ingress behind a PROXY-protocol load balancer sees real client addresses and still checks them."""

from __future__ import annotations

import io
import json
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ALT_LIMITS, PROXY_SOURCE
from tests.support.clients import ClientCert, wait_for_status
from tests.support.ftps import Control, ftplib_session
from tests.support.gateway import Gateway
from tests.support.proxy import ProxyRelay, v1_header

pytestmark = pytest.mark.e2e
CertFactory = Callable[[str], ClientCert]
BALANCER = "127.0.0.10"  # where clients connect; the relay reaches the gateway from PROXY_SOURCE
CLIENT, THIEF = "127.0.0.7", "127.0.0.8"


@pytest.fixture(scope="module")
def balancer(alt_gateway: Gateway) -> Iterator[ProxyRelay]:
    with ProxyRelay(BALANCER, alt_gateway.ftps_port, alt_gateway.passive_ports, PROXY_SOURCE) as relay:
        yield relay


def _login_lines(gateway: Gateway) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in gateway.log("ingress").splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "login"]


def test_upload_through_the_balancer_keeps_the_client_address(
    alt_gateway: Gateway, balancer: ProxyRelay, pki: Path, cert: CertFactory
) -> None:
    ftp = ftplib_session(alt_gateway.ftps_port, pki, cert("oces3-employee"), host=BALANCER, source=CLIENT)
    txid = f"proxied-{uuid.uuid4().hex[:8]}"
    # ftplib connects its data connections to the balancer (it ignores PASV's address).
    assert ftp.storbinary(f"STOR heartbeat/{txid}", io.BytesIO(b"via the balancer")).startswith("226")
    assert ftp.nlst("/out") is not None
    ftp.quit()
    wait_for_status(alt_gateway.out_dir("company/30808460"), f"status_heartbeat_{txid}.xml", 2)
    assert any(line.get("remote_ip") == CLIENT for line in _login_lines(alt_gateway))


def test_data_connection_from_another_client_behind_the_balancer_is_refused(
    alt_gateway: Gateway, balancer: ProxyRelay, pki: Path, cert: CertFactory
) -> None:
    control = Control(alt_gateway.ftps_port, host=BALANCER, source=CLIENT)
    control.login(pki, cert("oces3-employee"))
    control.protect()
    port = control.passive_port()
    with socket.create_connection((BALANCER, port), timeout=5, source_address=(THIEF, 0)):
        assert control.reply().startswith(f"425 Rejected data connection from foreign address {THIEF}")
    control.close()


def test_balancer_connection_without_header_is_refused(alt_gateway: Gateway) -> None:
    with socket.create_connection(
        ("127.0.0.1", alt_gateway.ftps_port), timeout=5, source_address=(PROXY_SOURCE, 0)
    ) as s:
        s.sendall(b"USER anonymous\r\n")
        try:
            answer = s.recv(100)
        except ConnectionResetError:
            answer = b""
        assert answer == b"", "no banner, no reply: the connection is closed"
    assert 'gateway_ftps_connections_refused_total{reason="proxy_header"}' in alt_gateway.metrics("ingress")


def test_header_from_an_untrusted_address_is_not_believed(alt_gateway: Gateway) -> None:
    control = Control(alt_gateway.ftps_port, source="127.0.0.11")
    assert control.greeting.startswith("220")
    header = v1_header(("10.9.8.7", 1234), ("127.0.0.1", alt_gateway.ftps_port)).decode().strip()
    assert control.send(header).startswith('500 Command "PROXY" not understood')
    control.close()


def test_data_connection_from_the_balancer_without_header_is_refused(
    alt_gateway: Gateway, balancer: ProxyRelay, pki: Path, cert: CertFactory
) -> None:
    control = Control(alt_gateway.ftps_port, host=BALANCER, source=CLIENT)
    control.login(pki, cert("oces3-employee"))
    control.protect()
    port = control.passive_port()
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(PROXY_SOURCE, 0)) as data:
        data.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello, no PROXY header
        assert control.reply().startswith("425 Data connection refused: the load balancer sent no valid PROXY")
    control.close()


def test_connection_limits_count_real_clients_behind_the_balancer(alt_gateway: Gateway, balancer: ProxyRelay) -> None:
    limit = ALT_LIMITS["max_connections_per_ip"]
    held = [Control(alt_gateway.ftps_port, host=BALANCER, source="127.0.0.15") for _ in range(limit)]
    with socket.create_connection((BALANCER, alt_gateway.ftps_port), timeout=5, source_address=("127.0.0.15", 0)) as s:
        assert s.makefile("rb").readline().decode().startswith("421 Too many connections from 127.0.0.15")
    # Everyone arrives from the balancer's address, yet another client is still let in.
    assert Control(alt_gateway.ftps_port, host=BALANCER, source="127.0.0.16").greeting.startswith("220")
    for control in held:
        control.close()
