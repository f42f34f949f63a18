"""Revocation in a running ingress: CRLs from HTTP distribution points, refreshed without a restart."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from gateway_pki.authority import CertificateAuthority, now

from tests.support.broker import private_vhost
from tests.support.clients import ClientCert, curl
from tests.support.gateway import BIN, Gateway
from tests.support.pki_server import PkiServer
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, PkiServer]]:
    pki = tmp_path_factory.mktemp("crl-pki")
    host = PkiServer(pki)
    try:
        subprocess.run(
            [str(BIN / "gateway-pki"), "demo", "--dir", str(pki), "--base-url", host.url],
            check=True,
            capture_output=True,
        )
        yield pki, host
    finally:
        host.stop()


@pytest.fixture(scope="module")
def crl_gateway(tmp_path_factory: pytest.TempPathFactory, served: tuple[Path, PkiServer]) -> Iterator[Gateway]:
    pki, _ = served
    with private_vhost() as url:
        gw = Gateway(
            tmp_path_factory.mktemp("crl-gateway"),
            pki,
            url,
            extra_env={
                "GATEWAY_CRL_FILES": "",
                "GATEWAY_CRL_FETCH": "true",
                "GATEWAY_CRL_REFRESH_INTERVAL": "1",
                "GATEWAY_CRL_FETCH_TIMEOUT": "2",
                "GATEWAY_OCSP_MODE": "require",
                "GATEWAY_OCSP_TIMEOUT": "2",
            },
        )
        # Logins are all this module needs: the ingress alone.
        gw.data_dir.mkdir(parents=True, exist_ok=True)
        gw.routes_file.write_text("routes:\n  heartbeat: {adapter: heartbeat}\n")
        gw.start_service("ingress")
        try:
            gw.wait_ready("ingress")
            yield gw
        finally:
            gw.stop()


def login(gateway: Gateway, name: str) -> subprocess.CompletedProcess[str]:
    client = ClientCert.from_pki(gateway.pki, name)
    return curl(gateway.ftps_port, gateway.pki, client, "/", "--list-only", "-v")


def accepted(gateway: Gateway, name: str) -> bool:
    return login(gateway, name).returncode == 0


def refused_for(gateway: Gateway, name: str, reason: str) -> bool:
    return f"< 530 Login refused: Your certificate was refused ({reason})" in login(gateway, name).stderr


def test_ocsp_refuses_what_no_crl_lists_yet(crl_gateway: Gateway, served: tuple[Path, PkiServer]) -> None:
    pki, host = served
    eventually(lambda: accepted(crl_gateway, "function"), "function accepted", timeout=15, poll=0.2)
    company = x509.load_pem_x509_certificate((pki / "clients" / "company.crt").read_bytes())
    host.revoked.add(company.serial_number)
    assert refused_for(crl_gateway, "company", "revoked")
    assert "the certificate is revoked (OCSP)" in crl_gateway.log("ingress")


def test_crls_from_distribution_points_refresh_without_restart(
    crl_gateway: Gateway, served: tuple[Path, PkiServer]
) -> None:
    pki, host = served
    # The issuing CA's CRL is only named by its leaves: the first login learns the URL (fail closed
    # meanwhile), the refresher fetches it at once.
    eventually(lambda: accepted(crl_gateway, "employee"), "employee accepted", timeout=15, poll=0.2)
    assert refused_for(crl_gateway, "revoked", "revoked")
    assert accepted(crl_gateway, "employee2")

    # A new CRL revoking employee2 is published: picked up by the running ingress.
    issuing = CertificateAuthority.load(pki / "ca" / "oces2-issuing")
    employee2 = x509.load_pem_x509_certificate((pki / "clients" / "employee2.crt").read_bytes())
    revoked = x509.load_pem_x509_certificate((pki / "clients" / "revoked.crt").read_bytes())
    crl = issuing.issue_crl(
        [revoked.serial_number, employee2.serial_number],
        now() + timedelta(days=1),
        this_update=now() + timedelta(seconds=5),
        crl_number=2,
    )
    (pki / "crls" / "oces2-issuing.crl").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    eventually(
        lambda: refused_for(crl_gateway, "employee2", "revoked"), "employee2 refused as revoked", timeout=15, poll=0.2
    )

    # The CRL and OCSP host goes down: the last good CRLs and the cached OCSP answers keep serving.
    host.stop()
    time.sleep(2.5)
    assert accepted(crl_gateway, "employee")
    assert refused_for(crl_gateway, "employee2", "revoked")
    assert "CRL not fetched; the last good CRL stays in use" in crl_gateway.log("ingress")
