"""A backend's response file reaches the sender's /out, named by a status code 3 file."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.support.clients import ClientCert, curl, lftp, wait_for_status
from tests.support.gateway import Gateway

pytestmark = pytest.mark.e2e
TENANT = "company/30808460"


def test_backend_response_file_lands_in_out_with_status_3(gateway: Gateway, pki: Path, tmp_path: Path) -> None:
    txid = f"respond-{uuid.uuid4().hex[:10]}.xml"
    (tmp_path / txid).write_bytes(b"<report>needs an answer</report>")
    employee = ClientCert.from_pki(pki, "employee")
    assert curl(gateway.ftps_port, pki, employee, "/tax-reports/", "-T", str(tmp_path / txid)).returncode == 0

    status = wait_for_status(gateway.out_dir(TENANT), f"status_tax-reports_{txid}.xml", 3)
    name = status.findtext("ResponseFileName") or ""
    assert name == f"response_tax-reports_{txid}~receipt.xml"
    assert [e.findtext("StatusCode") for e in status.iter("Event")] == ["1", "2", "3"]
    backend_txid = status.findtext("BackendTransactionID")
    # The client fetches it over FTPS like any other file in /out.
    local = tmp_path / "receipt.xml"
    result = lftp(gateway.ftps_port, pki, ClientCert.from_pki(pki, "company"), f"cd /out && get {name} -o {local}")
    assert result.returncode == 0, result.stderr
    assert local.read_bytes().startswith(f'<receipt transaction="{backend_txid}"'.encode())
