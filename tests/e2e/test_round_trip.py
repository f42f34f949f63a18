"""The whole gateway, driven by real FTPS clients against real RabbitMQ and real processes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.clients import ClientCert, curl, lftp, read_status, wait_for_status
from tests.support.gateway import Gateway

pytestmark = pytest.mark.e2e
EMPLOYEE_OUT = "company/30808460"

CertFactory = Callable[[str], ClientCert]


def _txid(prefix: str = "tx") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _file(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _personal_tenant(pki: Path) -> str:
    entry = next(e for e in json.loads((pki / "clients" / "index.json").read_text()) if e["name"] == "personal")
    return f"personal/{entry['serial_number'].removeprefix('PID:')}"


def test_curl_employee_heartbeat_round_trip(gateway: Gateway, cert: CertFactory, tmp_path: Path) -> None:
    txid = _txid()
    upload = curl(
        gateway.ftps_port, gateway.pki, cert("employee"), "/heartbeat/", "-T", str(_file(tmp_path, txid, b"ping"))
    )
    assert upload.returncode == 0, upload.stderr

    status = wait_for_status(gateway.out_dir(EMPLOYEE_OUT), f"status_heartbeat_{txid}.xml", 2)
    assert status.findtext("FTPTransactionID") == txid
    assert status.findtext("Service") == "heartbeat"
    assert status.findtext("Size") == "4"
    history = [event.findtext("StatusCode") for event in status.iter("Event")]
    assert history == ["1", "2"]


def test_curl_personal_http_backend_accepts(gateway: Gateway, cert: CertFactory, pki: Path, tmp_path: Path) -> None:
    txid = _txid() + ".xml"
    upload = curl(
        gateway.ftps_port,
        pki,
        cert("personal"),
        "/tax-reports/",
        "-T",
        str(_file(tmp_path, txid, b"<report>42</report>")),
    )
    assert upload.returncode == 0, upload.stderr

    status = wait_for_status(gateway.out_dir(_personal_tenant(pki)), f"status_tax-reports_{txid}.xml", 2)
    assert (status.findtext("BackendTransactionID") or "").startswith("DEMO-")


def test_backend_refusal_gives_code_0_with_reason(gateway: Gateway, cert: CertFactory, tmp_path: Path) -> None:
    txid = _txid() + ".xml"
    upload = curl(
        gateway.ftps_port, gateway.pki, cert("employee"), "/tax-reports/", "-T", str(_file(tmp_path, txid, b"<broken"))
    )
    assert upload.returncode == 0, upload.stderr

    status = wait_for_status(gateway.out_dir(EMPLOYEE_OUT), f"status_tax-reports_{txid}.xml", 0)
    assert status.findtext("Error/Code") == "backend_http_422"
    assert "not well-formed XML" in (status.findtext("Error/Message") or "")
    assert status.findtext("Error/Resolution")


def test_lftp_folder_mode_upload(gateway: Gateway, cert: CertFactory, tmp_path: Path) -> None:
    txid = _txid()
    payload = _file(tmp_path, "invoice.xml", b"<invoice/>")
    result = lftp(
        gateway.ftps_port,
        gateway.pki,
        cert("employee2"),
        f"cd tax-reports && mkdir {txid} && mkdir {txid}/in && put {payload} -o {txid}/in/invoice.xml",
    )
    assert result.returncode == 0, result.stderr

    status = wait_for_status(gateway.out_dir(EMPLOYEE_OUT), f"status_tax-reports_{txid}.xml", 2)
    assert status.findtext("FTPTransactionID") == txid
    assert status.findtext("FileName") == "invoice.xml"


def test_lftp_personal_direct_upload_and_download_status(
    gateway: Gateway, cert: CertFactory, pki: Path, tmp_path: Path
) -> None:
    txid = _txid()
    payload = _file(tmp_path, txid, b"hello over GnuTLS")
    result = lftp(gateway.ftps_port, pki, cert("personal"), f"cd heartbeat && put {payload}")
    assert result.returncode == 0, result.stderr
    name = f"status_heartbeat_{txid}.xml"
    wait_for_status(gateway.out_dir(_personal_tenant(pki)), name, 2)

    local = tmp_path / "downloaded.xml"
    result = lftp(gateway.ftps_port, pki, cert("personal"), f"cd /out && get {name} -o {local} && rm {name}")
    assert result.returncode == 0, result.stderr
    assert read_status(local).findtext("StatusCode") == "2"
    assert not (gateway.out_dir(_personal_tenant(pki)) / name).exists()


def test_company_certificates_share_out(gateway: Gateway, cert: CertFactory, tmp_path: Path) -> None:
    txid = _txid()
    assert (
        curl(
            gateway.ftps_port, gateway.pki, cert("employee"), "/heartbeat/", "-T", str(_file(tmp_path, txid, b"x"))
        ).returncode
        == 0
    )
    name = f"status_heartbeat_{txid}.xml"
    wait_for_status(gateway.out_dir(EMPLOYEE_OUT), name, 2)

    for holder in ("employee2", "company", "function"):
        listing = curl(gateway.ftps_port, gateway.pki, cert(holder), "/%2Fout/", "--list-only")
        assert name in listing.stdout.split(), (holder, listing.stderr)
    for outsider in ("other-employee", "personal"):
        listing = curl(gateway.ftps_port, gateway.pki, cert(outsider), "/%2Fout/", "--list-only")
        assert name not in listing.stdout, outsider


@pytest.mark.parametrize("client", [None, "foreign-ca"])
def test_login_refused_without_a_trusted_certificate(gateway: Gateway, cert: CertFactory, client: str | None) -> None:
    result = curl(gateway.ftps_port, gateway.pki, cert(client) if client else None, "/", "--list-only", "-v")
    assert result.returncode != 0
    assert "< 530 Login refused" in result.stderr


def test_every_service_exposes_its_metrics(gateway: Gateway) -> None:
    expected = {
        "ingress": [
            "gateway_ftps_sessions_active",
            "gateway_ftps_logins_total",
            "gateway_uploads_total",
            "gateway_upload_bytes_total",
        ],
        "router": ["gateway_events_routed_total"],
        "adapter-heartbeat": ["gateway_deliveries_total"],
        "adapter-http": ["gateway_deliveries_total"],
        "status": ["gateway_status_files_written_total", "gateway_upload_to_status_seconds_bucket"],
    }
    for service, names in expected.items():
        # An adapter counts a delivery once its status event is confirmed: maybe after the status file.
        body = gateway.metrics_when(service, lambda body, names=names: not _missing(body, names))
        assert not _missing(body, names), (service, _missing(body, names))


def _missing(body: str, names: list[str]) -> list[str]:
    """The metrics of ``names`` without a sample in ``body`` (a HELP line alone does not count)."""
    return [name for name in names if not any(line.startswith(name) for line in body.splitlines())]
