"""Who may log in, where each certificate lands, and what it may see: real clients, real processes."""

from __future__ import annotations

import ftplib
import json
import re
import time
import uuid
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from gateway_common.storage import StorageLayout
from gateway_pki.demo import DEMO_CLIENTS
from lxml import etree

from tests.support.clients import ClientCert, curl, ftps, wait_for_status
from tests.support.files import entries_below, files_below
from tests.support.gateway import Gateway, metric_value

pytestmark = pytest.mark.e2e
CertFactory = Callable[[str], ClientCert]
COMPANY = "company/30808460"


@pytest.fixture(scope="module")
def index(pki: Path) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in json.loads((pki / "clients" / "index.json").read_text())}


def login_folder(entry: dict[str, Any]) -> str | None:
    prefix = {"employee": "RID", "company": "UID", "function": "FID"}
    if entry["kind"] == "personal":
        return None
    if entry["generation"] == "OCES3":
        return f"{'employee' if entry['kind'] == 'oces3-employee' else 'company'}-{entry['subject_id']}"
    return f"{prefix[entry['kind']]}-{entry['subject_id']}"


def listing(gateway: Gateway, client: ClientCert, path: str) -> list[str]:
    result = curl(gateway.ftps_port, gateway.pki, client, path, "--list-only")
    assert result.returncode == 0, (client.name, path, result.stderr)
    return sorted(result.stdout.split())


@pytest.mark.parametrize(
    "name", ["personal", "employee", "company", "function", "oces3-employee", "oces3-organisation"]
)
def test_accepted_certificates_see_their_root(
    gateway: Gateway, cert: CertFactory, index: dict[str, dict[str, Any]], name: str
) -> None:
    entry = index[name]
    folder = login_folder(entry)
    root = listing(gateway, cert(name), "/%2F/")
    home = listing(gateway, cert(name), "/")
    if folder is None:  # personal: the login folder is the root, with out/ and the services
        assert home == root
        assert "out" in root
        assert "heartbeat" in root
        assert "companies-only" not in root
    else:  # the company root holds out/ and this certificate's own folder, nothing of other certificates
        assert root == sorted(["out", folder])
        assert "heartbeat" in home
        assert "out" not in home
        session = ftps(gateway.ftps_port, gateway.pki, cert(name))
        try:
            assert session.pwd() == f"/{folder}"
            session.cwd("..")
            assert session.pwd() == "/"
            session.cwd("..")  # the company root is as far as it goes
            assert session.pwd() == "/"
            assert sorted(session.nlst()) == root
        finally:
            session.quit()


REFUSED = [client.name for client in DEMO_CLIENTS if client.defect is not None]


def _refusals(gateway: Gateway, reason: str) -> float:
    labels = r'\{kind="\w+",reason="' + reason + r'",result="refused"\}'
    pattern = re.compile(r"^gateway_ftps_logins_total" + labels + r" (\S+)$", re.M)
    return sum(float(match) for match in pattern.findall(gateway.metrics("ingress")))


def _command_refusals(gateway: Gateway, command: str, reason: str) -> float:
    return metric_value(
        gateway.metrics("ingress"), f'gateway_ftps_refusals_total{{command="{command}",reason="{reason}"}}'
    )


@pytest.mark.parametrize("name", [None, *REFUSED])
def test_refused_certificates_get_a_reason_in_reply_log_and_metric(
    gateway: Gateway, cert: CertFactory, index: dict[str, dict[str, Any]], name: str | None
) -> None:
    reason = index[name]["reason"] if name else "no_certificate"
    before = _refusals(gateway, reason)
    result = curl(gateway.ftps_port, gateway.pki, cert(name) if name else None, "/", "--list-only", "-v")
    assert result.returncode != 0
    assert "< 530 Login refused" in result.stderr
    if name:
        assert f"({reason})" in result.stderr
    assert _refusals(gateway, reason) == before + 1
    records = [json.loads(line) for line in gateway.log("ingress").splitlines() if line.startswith("{")]
    refused = [r for r in records if r.get("event") == "login refused" and r.get("reason") == reason]
    assert refused, reason
    if name and name != "self-signed":
        assert any(index[name]["serial_number"] in r.get("subject", "") for r in refused)


def test_client_certificate_expiry_is_exported(gateway: Gateway, cert: CertFactory, index: dict[str, Any]) -> None:
    listing(gateway, cert("employee"), "/")
    lines = [
        line
        for line in gateway.metrics("ingress").splitlines()
        if line.startswith("gateway_client_certificates_expiring{")
    ]
    counts = {line.split('within_days="')[1].split('"')[0]: float(line.split()[-1]) for line in lines}
    assert counts["+Inf"] >= 1  # the demo certificates live for years
    assert not any(index["employee"]["subject_id"] in line for line in lines)


# --- tenants


@pytest.fixture
def outbound(gateway: Gateway) -> str:
    """A file a backend left in the company's /out."""
    name = f"response-{uuid.uuid4().hex[:8]}.xml"
    out = gateway.out_dir(COMPANY)
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_bytes(b"<response/>")
    return name


def test_company_certificates_share_out_and_outsiders_reach_nothing(
    gateway: Gateway, cert: CertFactory, outbound: str, tmp_path: Path
) -> None:
    for holder in ("employee", "employee2", "oces3-employee"):
        assert outbound in listing(gateway, cert(holder), "/%2Fout/")
        download = curl(gateway.ftps_port, gateway.pki, cert(holder), f"/%2Fout/{outbound}")
        assert download.stdout == "<response/>", download.stderr
    for outsider in ("other-employee", "personal"):
        assert outbound not in listing(gateway, cert(outsider), "/%2Fout/")
        session = ftps(gateway.ftps_port, gateway.pki, cert(outsider))
        try:
            for path in (
                f"/out/{outbound}",
                f"../out/{outbound}",
                f"/../30808460/out/{outbound}",
                f"/../../company/30808460/out/{outbound}",
                f"/%2E%2E/30808460/out/{outbound}",
                str(gateway.out_dir(COMPANY) / outbound),
            ):
                with pytest.raises(ftplib.error_perm):
                    session.retrbinary(f"RETR {path}", lambda _: None)
                with pytest.raises(ftplib.error_perm):
                    session.delete(path)
                with pytest.raises(ftplib.error_perm):
                    session.sendcmd(f"SIZE {path}")
        finally:
            session.quit()
    assert (gateway.out_dir(COMPANY) / outbound).exists()


def test_out_allows_no_uploads_renames_or_folders(gateway: Gateway, cert: CertFactory, outbound: str) -> None:
    before = _command_refusals(gateway, "STOR", "upload_into_out")
    session = ftps(gateway.ftps_port, gateway.pki, cert("employee"))
    try:
        session.cwd("/out")
        with pytest.raises(ftplib.error_perm):
            session.storbinary("STOR injected.xml", _Bytes(b"x"))
        with pytest.raises(ftplib.error_perm):
            session.rename(outbound, "renamed.xml")
        with pytest.raises(ftplib.error_perm):
            session.mkd("sub")
    finally:
        session.quit()
    assert sorted(p.name for p in gateway.out_dir(COMPANY).iterdir() if p.name in {"injected.xml", "renamed.xml"}) == []
    assert _command_refusals(gateway, "STOR", "upload_into_out") == before + 1


def test_delete_in_out_removes_it_for_the_whole_company_and_is_audited(
    gateway: Gateway, cert: CertFactory, index: dict[str, Any], outbound: str
) -> None:
    session = ftps(gateway.ftps_port, gateway.pki, cert("employee2"))
    try:
        assert session.delete(f"/out/{outbound}").startswith("250")
    finally:
        session.quit()
    assert outbound not in listing(gateway, cert("company"), "/%2Fout/")
    audit = StorageLayout(gateway.data_dir).audit_file  # one log per UTC day
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        records = [json.loads(line) for line in audit.read_text().splitlines()] if audit.exists() else []
        if any(r["file"] == f"out/{outbound}" for r in records):
            break
        time.sleep(0.05)
    record = next(r for r in records if r["file"] == f"out/{outbound}")
    assert record["tenant"] == COMPANY
    assert record["serial_number"] == index["employee2"]["serial_number"]
    assert record["at"].endswith("Z")


# --- uploads: transaction ids, names, escapes


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int = -1) -> bytes:
        chunk, self.data = (self.data, b"") if size < 0 else (self.data[:size], self.data[size:])
        return chunk


def _company_entries(gateway: Gateway, service: str) -> set[str]:
    """What lies in the service folders of the company's certificates and its txid reservations."""
    root = gateway.data_dir / "tenants" / COMPANY
    below = [p.relative_to(root) for p in entries_below(root)]
    folders = {p.as_posix() for p in below if len(p.parts) > 2 and p.parts[1] == service}
    reservations = gateway.data_dir / "txids" / COMPANY / service
    return folders | {f"txid:{p.name}" for p in files_below(reservations)}


def test_duplicate_transaction_id_is_refused_before_any_data(gateway: Gateway, cert: CertFactory) -> None:
    txid = f"dup-{uuid.uuid4().hex[:8]}"
    session = ftps(gateway.ftps_port, gateway.pki, cert("employee"))
    try:
        session.cwd("heartbeat")
        assert session.storbinary(f"STOR {txid}", _Bytes(b"first")).startswith("226")
        # Size and time of the upload still answer although the file has moved on.
        assert session.sendcmd(f"SIZE {txid}") == "213 5"
        assert session.sendcmd(f"MDTM {txid}").startswith("213 20")
        with pytest.raises(ftplib.error_perm, match=r"^553 .*already used"):
            session.storbinary(f"STOR {txid}", _Bytes(b"second"))
        with pytest.raises(ftplib.error_perm, match=r"^553 .*already used"):
            session.mkd(txid)
        folder = f"fold-{uuid.uuid4().hex[:8]}"
        session.mkd(folder)
        session.mkd(f"{folder}/in")
        assert session.storbinary(f"STOR {folder}/in/data.xml", _Bytes(b"<a/>")).startswith("226")
        assert session.sendcmd(f"SIZE {folder}/in/data.xml") == "213 4"
        with pytest.raises(ftplib.error_perm, match=r"^553 .*already used"):
            session.storbinary(f"STOR {folder}", _Bytes(b"again"))
    finally:
        session.quit()
    # Uploads leave at once, the transaction folder goes when its session has closed: nothing partial stays.
    expected = {f"txid:{txid}", f"txid:{folder}"}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = {e for e in _company_entries(gateway, "heartbeat") if txid in e or folder in e}
        if left == expected:
            break
        time.sleep(0.05)
    assert left == expected


@pytest.mark.parametrize(
    "name",
    ["..", ".hidden", "a/b", "tab\there", "trailing.", "x" * 201, "cafe\u0301", "semi;colon", "quote'", "%2e%2e"],
)
def test_bad_names_are_refused_with_553(gateway: Gateway, cert: CertFactory, name: str) -> None:
    session = ftps(gateway.ftps_port, gateway.pki, cert("employee"))
    try:
        session.cwd("heartbeat")
        before = _company_entries(gateway, "heartbeat")
        with pytest.raises(ftplib.error_perm, match=r"^55[03] "):
            session.storbinary(f"STOR {name}", _Bytes(b"x"))
        with pytest.raises(ftplib.error_perm, match=r"^55[03] "):
            session.mkd(name)
        assert _company_entries(gateway, "heartbeat") == before
    finally:
        session.quit()


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "../../../../etc/passwd",
        "/../../personal/x",
        "/RID-1/heartbeat/x",
        "/out/../../../x",
        "/companies-only/../../x",
    ],
)
def test_no_path_escapes_the_root(gateway: Gateway, cert: CertFactory, path: str) -> None:
    before = sum(_command_refusals(gateway, "RETR", reason) for reason in ("outside_view", "not_permitted"))
    session = ftps(gateway.ftps_port, gateway.pki, cert("employee"))
    try:
        with pytest.raises(ftplib.error_perm, match=r"^55[03] "):
            session.storbinary(f"STOR {path}", _Bytes(b"x"))
        with pytest.raises(ftplib.error_perm, match=r"^55[03] "):
            session.retrbinary(f"RETR {path}", lambda _: None)
    finally:
        session.quit()
    assert not list((gateway.data_dir / "tenants").rglob("x"))
    assert sum(_command_refusals(gateway, "RETR", r) for r in ("outside_view", "not_permitted")) == before + 1


def _spool(gateway: Gateway) -> set[Path]:
    """Everything in the spool but its shard folders, which stay once made."""
    spool = gateway.data_dir / "spool"
    return {p for p in entries_below(spool) if p.parent != spool}


def test_a_failed_upload_leaves_nothing_and_frees_its_transaction_id(gateway: Gateway, cert: CertFactory) -> None:
    txid = f"big-{uuid.uuid4().hex[:8]}"
    spooled = _spool(gateway)
    session = ftps(gateway.ftps_port, gateway.pki, cert("employee"))
    try:
        session.cwd("small-files")
        # The route allows 1024 bytes: the gateway cuts the transfer (reply or reset, as the race goes).
        with pytest.raises((ftplib.Error, OSError)):
            session.storbinary(f"STOR {txid}", _Bytes(b"x" * 4096))
    finally:
        session.close()
    deadline = time.monotonic() + 5  # the discard runs in the pipeline thread
    while {e for e in _company_entries(gateway, "small-files") if txid in e} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not {e for e in _company_entries(gateway, "small-files") if txid in e}
    assert _spool(gateway) == spooled
    session = ftps(gateway.ftps_port, gateway.pki, cert("employee"))
    try:
        session.cwd("small-files")
        assert session.storbinary(f"STOR {txid}", _Bytes(b"fits")).startswith("226")
    finally:
        session.quit()


def test_symlinks_do_not_lead_out_of_the_root(gateway: Gateway, cert: CertFactory, tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_bytes(b"<secret/>")
    gateway.out_dir(COMPANY).mkdir(parents=True, exist_ok=True)
    link = gateway.out_dir(COMPANY) / f"link-{uuid.uuid4().hex[:8]}.xml"
    link.symlink_to(secret)
    session = ftps(gateway.ftps_port, gateway.pki, cert("employee"))
    try:
        received: list[bytes] = []
        with pytest.raises(ftplib.error_perm, match=r"^550 "):
            session.retrbinary(f"RETR /out/{link.name}", received.append)
        assert received == []
    finally:
        session.quit()
        link.unlink()


def test_every_status_file_the_gateway_wrote_validates(gateway: Gateway, cert: CertFactory, tmp_path: Path) -> None:
    txid = f"xsd-{uuid.uuid4().hex[:8]}.xml"  # the demo backend refuses it: an error status with its details
    payload = tmp_path / txid
    payload.write_bytes(b"<broken")
    assert curl(gateway.ftps_port, gateway.pki, cert("employee"), "/tax-reports/", "-T", str(payload)).returncode == 0
    wait_for_status(gateway.out_dir(COMPANY), f"status_tax-reports_{txid}.xml", 0)
    schema = etree.XMLSchema(etree.parse(str(files("gateway_status") / "status.xsd")))
    written = list((gateway.data_dir / "tenants").glob("*/*/out/status_*.xml"))
    assert written
    for path in written:
        assert schema.validate(etree.parse(str(path))), (path.name, schema.error_log)
