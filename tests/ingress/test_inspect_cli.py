"""`gateway-cert inspect` gives an operator the same verdict a login gets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gateway_ingress import inspect_cli
from gateway_ingress.settings import IngressSettings

GATEWAY_CERT = Path(sys.executable).parent / "gateway-cert"


def inspect(pki: Path, name: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")} | {
        "GATEWAY_CLIENT_CA_FILE": str(pki / "client-ca.pem"),
        "GATEWAY_CRL_FILES": str(pki / "crl-bundle.pem"),
        "GATEWAY_CRL_FETCH": "false",
    }
    command = [str(GATEWAY_CERT), "inspect", str(pki / "clients" / f"{name}.pem")]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=30)


def test_accepted_certificate_is_classified(demo_pki: Path, demo_index: dict[str, dict[str, Any]]) -> None:
    result = inspect(demo_pki, "function")
    assert result.returncode == 0, result.stderr
    entry = demo_index["function"]
    assert f"identity:      OCES2 function {entry['serial_number']}" in result.stdout
    assert f"tenant:        company/{entry['cvr']}" in result.stdout
    assert f"login folder:  FID-{entry['subject_id']}" in result.stdout
    assert "verdict:       ACCEPTED (policy 1.2.208.169.1.1.1.4)" in result.stdout


def _settings(pki: Path) -> IngressSettings:
    return IngressSettings(client_ca_file=pki / "client-ca.pem", crl_files=[pki / "crl-bundle.pem"], crl_fetch=False)


@pytest.mark.parametrize("name", ["revoked", "wrong-policy", "wrong-eku", "missing-intermediate"])
def test_refused_certificate_says_why(demo_pki: Path, demo_index: dict[str, dict[str, Any]], name: str) -> None:
    status, lines = inspect_cli.inspect(demo_pki / "clients" / f"{name}.pem", _settings(demo_pki))
    assert status == 1
    assert lines[-1].startswith(f"verdict:       REFUSED ({demo_index[name]['reason']})")


def test_unreadable_file(demo_pki: Path) -> None:
    status, lines = inspect_cli.inspect(demo_pki / "nothing.pem", _settings(demo_pki))
    assert status == 2
    assert "cannot read a certificate" in lines[0]
