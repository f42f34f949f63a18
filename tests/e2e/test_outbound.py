"""Backends push files for a person or a company; they land once, atomically, in that /out."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clients import ClientCert, curl
from tests.support.gateway import OUTBOUND_MAX_SIZE, OUTBOUND_QUOTA, OUTBOUND_TOKEN, SCOPED_CVR, SCOPED_TOKEN, Gateway

pytestmark = pytest.mark.e2e
COMPANY = "company/30808460"


def _push(
    gw: Gateway, path: str, body: bytes | Iterator[bytes], key: str, token: str | None = OUTBOUND_TOKEN
) -> tuple[int, str]:
    headers = {"Idempotency-Key": key, "Content-Type": "application/octet-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = f"http://127.0.0.1:{gw.http_ports['status']}/outbound/{path}"
    request = urllib.request.Request(url, data=body, headers=headers, method="PUT")  # type: ignore[arg-type]
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture(autouse=True, scope="module")
def _company_has_logged_in(gateway: Gateway, pki: Path) -> None:
    """Pushes go to tenants that use the gateway (or that a backend's scope names)."""
    result = curl(gateway.ftps_port, pki, ClientCert.from_pki(pki, "employee"), "/")
    assert result.returncode == 0, result.stderr


def _hidden(out: Path) -> list[str]:
    return [p.name for p in out.iterdir() if p.name.startswith(".")] if out.exists() else []


def test_pushed_file_lands_once_and_the_company_downloads_it(gateway: Gateway, pki: Path, tmp_path: Path) -> None:
    name, key = f"letter-{uuid.uuid4().hex[:8]}.pdf", uuid.uuid4().hex
    body = b"%PDF-1.7 a letter for the company\n" * 100

    assert _push(gateway, f"{COMPANY}/{name}", body, key)[0] == 201
    # The backend did not see the answer and pushes again: same key, no second file.
    status, answer = _push(gateway, f"{COMPANY}/{name}", body, key)
    assert status == 200, answer
    out = gateway.out_dir(COMPANY)
    assert (out / name).read_bytes() == body
    assert [p.name for p in out.iterdir() if p.name.startswith(name.split(".", maxsplit=1)[0])] == [name]
    assert _hidden(out) == []

    local = tmp_path / "letter.pdf"
    result = curl(gateway.ftps_port, pki, ClientCert.from_pki(pki, "employee"), f"/%2Fout/{name}", "-o", str(local))
    assert result.returncode == 0, result.stderr
    assert local.read_bytes() == body

    # The company deletes it; a late retry of the same push must not bring it back.
    result = curl(gateway.ftps_port, pki, ClientCert.from_pki(pki, "employee"), "/", "-Q", f"DELE /out/{name}")
    assert result.returncode == 0, result.stderr
    assert not (out / name).exists()
    assert _push(gateway, f"{COMPANY}/{name}", body, key)[0] == 200
    assert not (out / name).exists()


def test_same_key_for_other_content_or_a_taken_name_is_a_conflict(gateway: Gateway) -> None:
    name, key = f"note-{uuid.uuid4().hex[:8]}.txt", uuid.uuid4().hex
    assert _push(gateway, f"{COMPANY}/{name}", b"first", key)[0] == 201
    assert _push(gateway, f"{COMPANY}/{name}", b"second", key)[0] == 409
    assert _push(gateway, f"{COMPANY}/{name}", b"second", uuid.uuid4().hex)[0] == 409
    assert (gateway.out_dir(COMPANY) / name).read_bytes() == b"first"


@pytest.mark.parametrize(
    ("path", "token", "expected"),
    [
        (f"{COMPANY}/x.txt", None, 401),
        (f"{COMPANY}/x.txt", "not-the-token", 401),
        ("company/../../etc/x.txt", OUTBOUND_TOKEN, 404),
        ("robots/30808460/x.txt", OUTBOUND_TOKEN, 404),
        (f"{COMPANY}/status_heartbeat_forged.xml", OUTBOUND_TOKEN, 422),
        (f"{COMPANY}/.hidden", OUTBOUND_TOKEN, 422),
        # Issue 10.7: case variants of reserved prefixes, forged LIST lines, bidi overrides.
        (f"{COMPANY}/Status_heartbeat_forged.xml", OUTBOUND_TOKEN, 422),
        (f"{COMPANY}/RESPONSE_heartbeat_x~a.xml", OUTBOUND_TOKEN, 422),
        (f"{COMPANY}/.TMP-x", OUTBOUND_TOKEN, 422),
        (f"{COMPANY}/x%0D%0A-rw-r-----%20status_heartbeat_FAKE.xml", OUTBOUND_TOKEN, 422),
        (f"{COMPANY}/tab%09name.txt", OUTBOUND_TOKEN, 422),
        (f"{COMPANY}/invoice%E2%80%AEfdp.exe", OUTBOUND_TOKEN, 422),
        (f"{COMPANY}/zero%E2%80%8Bwidth.txt", OUTBOUND_TOKEN, 422),
        # Scopes: the scoped backend sends PDFs to one company only; nobody creates strangers.
        (f"{COMPANY}/letter.pdf", SCOPED_TOKEN, 403),
        (f"company/{SCOPED_CVR}/letter.txt", SCOPED_TOKEN, 403),
        ("personal/9208-2002-2-123456789012/letter.pdf", SCOPED_TOKEN, 403),
        ("company/99999999/letter.pdf", OUTBOUND_TOKEN, 404),
    ],
)
def test_refused_pushes_leave_nothing(gateway: Gateway, path: str, token: str | None, expected: int) -> None:
    before = sorted(p.name for p in gateway.out_dir(COMPANY).iterdir()) if gateway.out_dir(COMPANY).exists() else []
    status, answer = _push(gateway, path, b"data", uuid.uuid4().hex, token)
    assert status == expected, answer
    if status in (403, 422) or "99999999" in path:
        assert len(answer) > 40, answer  # says what is wrong
    after = sorted(p.name for p in gateway.out_dir(COMPANY).iterdir()) if gateway.out_dir(COMPANY).exists() else []
    assert after == before


def test_file_over_the_limit_is_refused_while_streaming(gateway: Gateway) -> None:
    name = f"huge-{uuid.uuid4().hex[:8]}.bin"

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to refuse up front
        for _ in range(OUTBOUND_MAX_SIZE // (64 << 10) + 2):
            yield b"\0" * (64 << 10)

    status, _ = _push(gateway, f"{COMPANY}/{name}", chunks(), uuid.uuid4().hex)
    assert status == 413
    assert not (gateway.out_dir(COMPANY) / name).exists()
    assert _hidden(gateway.out_dir(COMPANY)) == []


def test_a_scoped_backend_reaches_the_company_it_names(gateway: Gateway) -> None:
    name = f"letter-{uuid.uuid4().hex[:8]}.pdf"
    status, answer = _push(gateway, f"company/{SCOPED_CVR}/{name}", b"%PDF-1.7", uuid.uuid4().hex, SCOPED_TOKEN)
    assert status == 201, answer
    assert (gateway.out_dir(f"company/{SCOPED_CVR}") / name).read_bytes() == b"%PDF-1.7"


def test_outbound_files_cannot_lock_the_company_out_of_uploads(gateway: Gateway, pki: Path, tmp_path: Path) -> None:
    """Pushes stop at the outbound quota, well below the upload quota: uploads still get 226."""
    out = gateway.out_dir(COMPANY)
    pushed: list[Path] = []
    refused = None
    try:
        for i in range(OUTBOUND_QUOTA // OUTBOUND_MAX_SIZE + 2):  # bounded: the quota is a few files
            name = f"bulk-{uuid.uuid4().hex[:8]}-{i}.bin"
            status, answer = _push(gateway, f"{COMPANY}/{name}", b"\0" * OUTBOUND_MAX_SIZE, uuid.uuid4().hex)
            if status != 201:
                refused = (status, answer)
                break
            pushed.append(out / name)
        assert refused is not None
        assert refused[0] == 507, refused
        assert "downloaded and deleted" in refused[1]
        assert sum(p.stat().st_size for p in out.iterdir() if p.is_file()) <= OUTBOUND_QUOTA

        txid = f"still-open-{uuid.uuid4().hex[:8]}"
        (tmp_path / txid).write_bytes(b"ping")
        upload = curl(
            gateway.ftps_port, pki, ClientCert.from_pki(pki, "employee"), "/heartbeat/", "-T", str(tmp_path / txid)
        )
        assert upload.returncode == 0, upload.stderr
    finally:
        for path in pushed:  # other tests push to this company too
            path.unlink(missing_ok=True)
