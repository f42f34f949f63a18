"""Interoperability: the clients people really use, each with its client certificate.

curl (OpenSSL) and lftp (GnuTLS) reuse the control connection's TLS session on data connections;
Python's ftplib cannot and makes a full handshake with the same certificate, which is as good.
Each client uploads in both modes, lists and downloads /out, checks integrity, and deletes.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.clients import ClientCert, curl, lftp, read_status, wait_for_status
from tests.support.ftps import ftplib_session
from tests.support.gateway import Gateway

pytestmark = pytest.mark.e2e
CertFactory = Callable[[str], ClientCert]
COMPANY = "company/30808460"


def _txid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _personal_tenant(pki: Path) -> str:
    entry = next(e for e in json.loads((pki / "clients" / "index.json").read_text()) if e["name"] == "personal")
    return f"personal/{entry['serial_number'].removeprefix('PID:')}"


def test_curl(gateway: Gateway, pki: Path, cert: CertFactory, tmp_path: Path) -> None:
    me = cert("employee")
    direct, folder = _txid("curl"), _txid("curl-folder")
    payload = tmp_path / direct
    payload.write_bytes(b"direct upload over OpenSSL " * 40)
    assert curl(gateway.ftps_port, pki, me, "/heartbeat/", "-T", str(payload)).returncode == 0
    invoice = tmp_path / "invoice.xml"
    invoice.write_bytes(b"<invoice>curl</invoice>")
    result = curl(
        gateway.ftps_port, pki, me, f"/tax-reports/{folder}/in/invoice.xml", "--ftp-create-dirs", "-T", str(invoice)
    )
    assert result.returncode == 0, result.stderr

    name = f"status_heartbeat_{direct}.xml"
    status = wait_for_status(gateway.out_dir(COMPANY), name, 2)
    assert status.findtext("SHA256") == _sha256(payload.read_bytes()), "hashed while receiving"
    assert wait_for_status(gateway.out_dir(COMPANY), f"status_tax-reports_{folder}.xml", 2).findtext("FileName") == (
        "invoice.xml"
    )

    listing = curl(gateway.ftps_port, pki, me, "/%2Fout/", "--list-only")
    assert name in listing.stdout.split()
    local = tmp_path / "status.xml"
    assert curl(gateway.ftps_port, pki, me, f"/%2Fout/{name}", "-o", str(local)).returncode == 0
    body = local.read_bytes()
    assert body == (gateway.out_dir(COMPANY) / name).read_bytes()
    # REST + RETR: resume a download from byte 10.
    rest = curl(gateway.ftps_port, pki, me, f"/%2Fout/{name}", "-C", "10", "-o", "-")
    assert rest.stdout.encode() == body[10:]
    hashed = curl(gateway.ftps_port, pki, me, "/%2Fout/", "--list-only", "-Q", f"HASH /out/{name}", "-v")
    assert f"213 SHA-256 0-{len(body) - 1} {_sha256(body)} {name}" in hashed.stderr

    deleted = curl(gateway.ftps_port, pki, me, "/%2Fout/", "--list-only", "-Q", f"-DELE {name}")
    assert deleted.returncode == 0, deleted.stderr
    assert not (gateway.out_dir(COMPANY) / name).exists()


def test_lftp(gateway: Gateway, pki: Path, cert: CertFactory, tmp_path: Path) -> None:
    me, out = cert("personal"), gateway.out_dir(_personal_tenant(pki))
    direct, folder = _txid("lftp"), _txid("lftp-folder")
    payload = tmp_path / direct
    payload.write_bytes(b"direct upload over GnuTLS " * 40)
    document = tmp_path / "report.xml"
    document.write_bytes(b"<report>lftp</report>")
    script = f"cd heartbeat && put {payload} && mkdir {folder} {folder}/in && put {document} -o {folder}/in/report.xml"
    result = lftp(gateway.ftps_port, pki, me, script)
    assert result.returncode == 0, result.stderr
    name = f"status_heartbeat_{direct}.xml"
    assert wait_for_status(out, name, 2).findtext("SHA256") == _sha256(payload.read_bytes())
    wait_for_status(out, f"status_heartbeat_{folder}.xml", 2)

    local = tmp_path / "downloaded.xml"
    result = lftp(
        gateway.ftps_port,
        pki,
        me,
        f"cls -1 /out && get /out/{name} -o {local} && quote XSHA256 /out/{name} && rm /out/{name}",
    )
    assert result.returncode == 0, result.stderr
    assert f"/out/{name}" in result.stdout.split()  # cls lists with MLSD
    assert read_status(local).findtext("StatusCode") == "2"
    assert _sha256(local.read_bytes()) in result.stdout
    assert not (out / name).exists()


def test_ftplib_without_session_reuse(alt_gateway: Gateway, pki: Path, cert: CertFactory) -> None:
    ftp = ftplib_session(alt_gateway.ftps_port, pki, cert("employee2"))
    features = ftp.sendcmd("FEAT")
    for feature in ("UTF8", "EPSV", "MLST", "SIZE", "MDTM", "MFMT", "HASH SHA-256*", "PROT", "AUTH TLS"):
        assert feature in features, feature
    assert ftp.sendcmd("OPTS UTF8 ON").startswith("200")

    direct, folder = _txid("ftplib"), _txid("ftplib-folder")
    payload = b"direct upload over Python's ssl " * 40
    # Exactly one 226, the gateway's own, sent once the upload is durable.
    assert ftp.storbinary(f"STOR heartbeat/{direct}", io.BytesIO(payload)).startswith("226 Transfer complete; trans")
    ftp.mkd(f"tax-reports/{folder}")
    ftp.mkd(f"tax-reports/{folder}/in")
    assert ftp.storbinary(f"STOR tax-reports/{folder}/in/a.xml", io.BytesIO(b"<a/>")).startswith("226")
    with pytest.raises(Exception, match="550 Resuming uploads is not supported"):
        ftp.storbinary(f"STOR heartbeat/{_txid('resume')}", io.BytesIO(b"x"), rest=1)

    out = alt_gateway.out_dir(COMPANY)
    name = f"status_heartbeat_{direct}.xml"
    assert wait_for_status(out, name, 2).findtext("SHA256") == _sha256(payload)
    wait_for_status(out, f"status_tax-reports_{folder}.xml", 2)

    assert ftp.nlst("companies-only") == [], "an empty listing is a listing too"
    facts = dict(ftp.mlsd("/out"))
    assert facts[name]["type"] == "file"
    body = (out / name).read_bytes()
    ftp.voidcmd("TYPE I")
    assert ftp.size(f"/out/{name}") == len(body)
    assert ftp.sendcmd(f"MDTM /out/{name}").startswith("213 ")
    chunks: list[bytes] = []
    ftp.retrbinary(f"RETR /out/{name}", chunks.append, rest=5)
    assert b"".join(chunks) == body[5:]
    assert ftp.sendcmd(f"XSHA256 /out/{name}") == f"213 {_sha256(body)}"
    assert ftp.sendcmd(f"HASH /out/{name}").startswith(f"213 SHA-256 0-{len(body) - 1} {_sha256(body)}")
    with pytest.raises(Exception, match="550"):
        ftp.sendcmd(f"HASH heartbeat/{direct}")  # only /out files can be hashed
    ftp.delete(f"/out/{name}")
    assert not (out / name).exists()
    ftp.quit()
