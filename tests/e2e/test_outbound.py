"""Backends push files for a person or a company; they land once, atomically, in that /out."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clients import ClientCert, curl
from tests.support.gateway import OUTBOUND_MAX_SIZE, OUTBOUND_TOKEN, Gateway

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
    ],
)
def test_refused_pushes_leave_nothing(gateway: Gateway, path: str, token: str | None, expected: int) -> None:
    before = sorted(p.name for p in gateway.out_dir(COMPANY).iterdir()) if gateway.out_dir(COMPANY).exists() else []
    assert _push(gateway, path, b"data", uuid.uuid4().hex, token)[0] == expected
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
