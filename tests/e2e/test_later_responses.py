"""A backend attaches responses to a transaction later, over the authenticated API (issue 9.9)."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.support.clients import ClientCert, curl, read_status, wait_for_status
from tests.support.gateway import OUTBOUND_TOKEN, SCOPED_TOKEN, Gateway

pytestmark = pytest.mark.e2e
COMPANY = "company/30808460"


def _respond(gw: Gateway, gateway_txid: str, name: str, body: bytes, key: str, token: str | None = OUTBOUND_TOKEN):
    headers = {"Idempotency-Key": key, "Content-Type": "application/octet-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = f"http://127.0.0.1:{gw.http_ports['status']}/responses/{gateway_txid}/{name}"
    request = urllib.request.Request(url, data=body, headers=headers, method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _delivered(gw: Gateway, pki: Path, tmp_path: Path) -> tuple[str, str]:
    txid = f"later-{uuid.uuid4().hex[:8]}.xml"
    (tmp_path / txid).write_bytes(b"<application>please decide</application>")
    employee = ClientCert.from_pki(pki, "employee")
    assert curl(gw.ftps_port, pki, employee, "/tax-reports/", "-T", str(tmp_path / txid)).returncode == 0
    status = wait_for_status(gw.out_dir(COMPANY), f"status_tax-reports_{txid}.xml", 2)
    return txid, status.findtext("GatewayTransactionID") or ""


def test_a_later_response_reaches_the_sender_once_with_status_3(gateway: Gateway, pki: Path, tmp_path: Path) -> None:
    txid, gateway_txid = _delivered(gateway, pki, tmp_path)
    out, key = gateway.out_dir(COMPANY), uuid.uuid4().hex
    decision = b"<decision>granted</decision>"

    assert _respond(gateway, gateway_txid, "decision.xml", decision, key)[0] == 201
    status_name = f"status_tax-reports_{txid}.xml"
    status = wait_for_status(out, status_name, 3)
    response_name = f"response_tax-reports_{txid}~decision.xml"
    assert status.findtext("ResponseFileName") == response_name
    assert [e.findtext("StatusCode") for e in status.iter("Event")] == ["1", "2", "3"]
    local = tmp_path / "decision.xml"
    employee = ClientCert.from_pki(pki, "employee")
    result = curl(gateway.ftps_port, pki, employee, f"/%2Fout/{response_name}", "-o", str(local))
    assert result.returncode == 0, result.stderr
    assert local.read_bytes() == decision

    # The backend did not see the answer and calls again: nothing changes.
    assert _respond(gateway, gateway_txid, "decision.xml", decision, key)[0] == 200
    assert len([e for e in read_status(out / status_name).iter("Event")]) == 3
    # The client deletes both files; a late retry does not bring them back.
    for name in (response_name, status_name):
        assert curl(gateway.ftps_port, pki, employee, "/", "-Q", f"DELE /out/{name}").returncode == 0
    assert _respond(gateway, gateway_txid, "decision.xml", decision, key)[0] == 200
    assert not (out / response_name).exists()
    assert not (out / status_name).exists()

    # Other content under the same key, or the same name under a new key, is a conflict.
    assert _respond(gateway, gateway_txid, "decision.xml", b"<decision>refused</decision>", key)[0] == 409
    assert _respond(gateway, gateway_txid, "decision.xml", decision, uuid.uuid4().hex)[0] == 409
    # A second, later response is another status update.
    assert _respond(gateway, gateway_txid, "appendix.pdf", b"%PDF-1.7", uuid.uuid4().hex)[0] == 201
    status = wait_for_status(out, status_name, 3)
    assert [e.findtext("StatusCode") for e in status.iter("Event")] == ["1", "2", "3", "3"]
    assert status.findtext("ResponseFileName") == f"response_tax-reports_{txid}~appendix.pdf"


def test_responses_outside_a_tokens_scope_are_refused(gateway: Gateway, pki: Path, tmp_path: Path) -> None:
    _, gateway_txid = _delivered(gateway, pki, tmp_path)
    before = sorted(p.name for p in gateway.out_dir(COMPANY).iterdir())
    cases = [
        (gateway_txid, "a.xml", None, 401),
        (gateway_txid, "a.xml", "not-the-token", 401),
        (gateway_txid, "a.xml", SCOPED_TOKEN, 403),  # its scope names no service
        (uuid.uuid4().hex, "a.xml", OUTBOUND_TOKEN, 404),
        ("..%2F..%2Fetc", "a.xml", OUTBOUND_TOKEN, 404),
        (gateway_txid, "a%0D%0Ab.xml", OUTBOUND_TOKEN, 422),
        (gateway_txid, "Status_x.xml", OUTBOUND_TOKEN, 422),
        (gateway_txid, "%C3%A6" * 110, OUTBOUND_TOKEN, 422),  # 110 æ, 220 bytes: the derived name is too long
    ]
    for txid, name, token, expected in cases:
        status, answer = _respond(gateway, txid, name, b"<x/>", uuid.uuid4().hex, token)
        assert status == expected, (txid, name, answer)
    assert sorted(p.name for p in gateway.out_dir(COMPANY).iterdir()) == before
