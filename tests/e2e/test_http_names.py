"""Danish file names reach HTTP backends (issue 9.10): the headers carry them percent-encoded."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.support.clients import ClientCert, curl, wait_for_status
from tests.support.gateway import Gateway

pytestmark = pytest.mark.e2e
COMPANY = "company/30808460"


def test_a_danish_name_reaches_the_http_backend_decoded(gateway: Gateway, pki: Path, tmp_path: Path) -> None:
    txid = f"løn-æøå-ÆØÅ {uuid.uuid4().hex[:6]}.xml"
    (tmp_path / "payload.xml").write_bytes(b"<salary>42</salary>")
    employee = ClientCert.from_pki(pki, "employee")
    path = "/tax-reports/" + txid.replace(" ", "%20")
    upload = curl(gateway.ftps_port, pki, employee, path, "-T", str(tmp_path / "payload.xml"))
    assert upload.returncode == 0, upload.stderr

    status = wait_for_status(gateway.out_dir(COMPANY), f"status_tax-reports_{txid}.xml", 2)
    gateway_txid = status.findtext("GatewayTransactionID") or ""
    received = gateway.backend("GET", "/names")
    # Both ways a backend may read the name: X-File-Name and Content-Disposition's filename*.
    assert received[gateway_txid] == {"x-file-name": txid, "filename*": txid, "x-ftp-transaction-id": txid}
    assert gateway.backend("GET", "/deliveries")[gateway_txid] == 1


def test_an_ascii_name_is_sent_unchanged(gateway: Gateway, pki: Path, tmp_path: Path) -> None:
    txid = f"report-{uuid.uuid4().hex[:6]}.xml"
    (tmp_path / txid).write_bytes(b"<report/>")
    upload = curl(
        gateway.ftps_port, pki, ClientCert.from_pki(pki, "employee"), "/tax-reports/", "-T", str(tmp_path / txid)
    )
    assert upload.returncode == 0, upload.stderr
    status = wait_for_status(gateway.out_dir(COMPANY), f"status_tax-reports_{txid}.xml", 2)
    assert gateway.backend("GET", "/raw-names")[status.findtext("GatewayTransactionID") or ""] == txid
