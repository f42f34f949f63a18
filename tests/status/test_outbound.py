"""outbound.py through its HTTP API (FastAPI's TestClient): every answer the module docstring lists."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gateway_common.storage import StorageLayout
from gateway_status.idempotency import key_record
from gateway_status.outbound import Outbound, build_outbound_app
from gateway_status.retention import DAY, Lifetimes, sweep
from gateway_status.tokens import BackendScope

TOKEN = "backend-token"
CVR = "30808460"  # has logged in: its root exists
NAMED_CVR = "12345678"  # never logged in, but the scope names it
PID = "9208-2002-2-123456789012"
MAX_SIZE = 2000
QUOTA = 2500


@pytest.fixture
def layout(tmp_path: Path) -> StorageLayout:
    made = StorageLayout(tmp_path)
    made.ensure()
    made.tenant_root(f"company/{CVR}").mkdir(parents=True)
    made.tenant_root(f"personal/{PID}").mkdir(parents=True)
    return made


@pytest.fixture
def client(layout: StorageLayout) -> Iterator[TestClient]:
    scope = BackendScope(
        token_sha256=hashlib.sha256(TOKEN.encode()).hexdigest(),
        kinds=["company"],
        cvrs=[CVR, NAMED_CVR],
        names=["*.pdf", "*.xml"],
    )
    outbound = Outbound(layout, {"tax-agency": scope}, MAX_SIZE, QUOTA)
    with TestClient(build_outbound_app(outbound)) as made:
        yield made


def _push(client: TestClient, path: str, body: bytes = b"<letter/>", key: str = "k-1", token: str = TOKEN) -> object:
    headers = {"Idempotency-Key": key, "Authorization": f"Bearer {token}"}
    return client.put(f"/outbound/{path}", content=body, headers=headers)


def _out(layout: StorageLayout, tenant: str = f"company/{CVR}") -> dict[str, bytes]:
    out = layout.out_dir(tenant)
    return {path.name: path.read_bytes() for path in out.iterdir()} if out.is_dir() else {}


def test_a_push_places_the_file_in_the_recipients_out(client: TestClient, layout: StorageLayout) -> None:
    response = _push(client, f"company/{CVR}/letter.xml")
    assert response.status_code == 201  # type: ignore[attr-defined]
    assert response.json() == {  # type: ignore[attr-defined]
        "file_name": "letter.xml",
        "size": 9,
        "sha256": hashlib.sha256(b"<letter/>").hexdigest(),
        "linked": False,
    }
    assert _out(layout) == {"letter.xml": b"<letter/>"}  # and no temporary file beside it


def test_a_repeated_key_changes_nothing_even_after_the_recipient_deleted_the_file(
    client: TestClient, layout: StorageLayout
) -> None:
    assert _push(client, f"company/{CVR}/letter.xml").status_code == 201  # type: ignore[attr-defined]
    assert _push(client, f"company/{CVR}/letter.xml").status_code == 200  # type: ignore[attr-defined]
    (layout.out_dir(f"company/{CVR}") / "letter.xml").unlink()
    assert _push(client, f"company/{CVR}/letter.xml").status_code == 200  # type: ignore[attr-defined]
    assert _out(layout) == {}


def test_a_key_reused_for_other_content_or_a_taken_name_is_a_conflict(
    client: TestClient, layout: StorageLayout
) -> None:
    assert _push(client, f"company/{CVR}/letter.xml").status_code == 201  # type: ignore[attr-defined]
    assert _push(client, f"company/{CVR}/letter.xml", b"<other/>").status_code == 409  # type: ignore[attr-defined]
    taken = _push(client, f"company/{CVR}/letter.xml", b"<other/>", key="k-2")
    assert taken.status_code == 409  # type: ignore[attr-defined]
    assert "already exists" in taken.json()["detail"]  # type: ignore[attr-defined]
    assert _out(layout) == {"letter.xml": b"<letter/>"}


def test_a_company_the_scope_names_gets_files_before_its_first_login(client: TestClient, layout: StorageLayout) -> None:
    assert _push(client, f"company/{NAMED_CVR}/letter.xml").status_code == 201  # type: ignore[attr-defined]
    assert _out(layout, f"company/{NAMED_CVR}") == {"letter.xml": b"<letter/>"}


@pytest.mark.parametrize(
    ("path", "token", "status"),
    [
        (f"company/{CVR}/letter.xml", "wrong-token", 401),
        (f"company/{CVR}/letter.xml", "", 401),
        (f"personal/{PID}/letter.xml", TOKEN, 403),  # the scope has companies only
        ("company/99999999/letter.xml", TOKEN, 403),  # a company outside the scope's list
        (f"company/{CVR}/letter.exe", TOKEN, 403),  # a name outside the scope's patterns
        (f"tenants/{CVR}/letter.xml", TOKEN, 404),
        (f"company/{CVR}/status_tax_1.xml", TOKEN, 422),  # the gateway's own prefix...
        (f"company/{CVR}/STATUS_tax_1.xml", TOKEN, 422),  # ...in any case
        (f"company/{CVR}/evil\u202egpj.xml", TOKEN, 422),  # a bidi override
        (f"company/{CVR}/.hidden.xml", TOKEN, 422),
    ],
)
def test_a_refused_push_says_why_and_places_nothing(
    client: TestClient, layout: StorageLayout, path: str, token: str, status: int
) -> None:
    response = _push(client, path, token=token)
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.json()["detail"]  # type: ignore[attr-defined]
    assert _out(layout) == {}
    assert _out(layout, f"personal/{PID}") == {}


def test_an_unknown_recipient_is_not_created(client: TestClient, layout: StorageLayout, tmp_path: Path) -> None:
    scope = BackendScope(token_sha256=hashlib.sha256(b"any").hexdigest(), kinds=["company"], names=["*"])
    app = build_outbound_app(Outbound(layout, {"any": scope}, MAX_SIZE, QUOTA))
    with TestClient(app) as anywhere:
        response = _push(anywhere, "company/87654321/letter.xml", token="any")
    assert response.status_code == 404  # type: ignore[attr-defined]
    assert not layout.tenant_root("company/87654321").exists()


def test_a_file_over_the_size_limit_is_refused_declared_or_streamed(client: TestClient, layout: StorageLayout) -> None:
    assert _push(client, f"company/{CVR}/big.xml", b"x" * (MAX_SIZE + 1)).status_code == 413  # type: ignore[attr-defined]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while the body streams
        for _ in range(3):
            yield b"x" * 800

    headers = {"Idempotency-Key": "k-9", "Authorization": f"Bearer {TOKEN}"}
    streamed = client.put(f"/outbound/company/{CVR}/big.xml", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert _out(layout) == {}


def test_pushes_stop_at_the_outbound_quota(client: TestClient, layout: StorageLayout) -> None:
    for index in range(2):
        body = b"x" * 1000
        assert _push(client, f"company/{CVR}/{index}.xml", body, key=f"q-{index}").status_code == 201  # type: ignore[attr-defined]
    full = _push(client, f"company/{CVR}/2.xml", b"x" * 1000, key="q-2")
    assert full.status_code == 507  # type: ignore[attr-defined]
    assert "downloaded and deleted" in full.json()["detail"]  # type: ignore[attr-defined]
    assert sorted(_out(layout)) == ["0.xml", "1.xml"]


def test_a_file_that_fits_the_quota_is_placed_even_when_it_is_more_than_half_of_it(
    client: TestClient, layout: StorageLayout
) -> None:
    # Once streamed, the body is in /out as a hidden temporary file: it must be counted once.
    body = b"x" * (QUOTA * 6 // 10)
    headers = {"Idempotency-Key": "big", "Authorization": f"Bearer {TOKEN}"}
    chunked = client.put(f"/outbound/company/{CVR}/big.xml", content=iter([body]), headers=headers)
    assert chunked.status_code == 201, chunked.text
    assert _out(layout) == {"big.xml": body}


def test_an_idempotency_key_is_required(client: TestClient) -> None:
    response = client.put(
        f"/outbound/company/{CVR}/letter.xml", content=b"x", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 422


def test_a_replay_within_the_window_is_still_idempotent_after_the_sweep(
    client: TestClient, layout: StorageLayout
) -> None:
    assert _push(client, f"company/{CVR}/letter.xml").status_code == 201  # type: ignore[attr-defined]
    (layout.out_dir(f"company/{CVR}") / "letter.xml").unlink()  # the recipient fetched it
    record = key_record(layout.data_dir / "outbound", "tax-agency", "k-1")
    window = Lifetimes(idempotency=7 * DAY)
    when = time.time() - 6 * DAY
    os.utime(record, (when, when))
    assert sweep(layout, window).removed["outbound"] == 0
    assert _push(client, f"company/{CVR}/letter.xml").status_code == 200  # type: ignore[attr-defined]
    assert _out(layout) == {}  # not placed again

    when = time.time() - 8 * DAY
    os.utime(record, (when, when))
    assert sweep(layout, window).removed["outbound"] == 1
    # Past the window the key is forgotten: the push is a new one.
    assert _push(client, f"company/{CVR}/letter.xml").status_code == 201  # type: ignore[attr-defined]
    assert _push(client, f"company/{CVR}/letter.xml", key="k-2").status_code == 409  # type: ignore[attr-defined]


def test_a_record_written_before_sharding_still_answers_a_replay(client: TestClient, layout: StorageLayout) -> None:
    assert _push(client, f"company/{CVR}/letter.xml").status_code == 201  # type: ignore[attr-defined]
    record = key_record(layout.data_dir / "outbound", "tax-agency", "k-1")
    record.rename(record.parent.parent / record.name)  # where it lay before sharding
    assert _push(client, f"company/{CVR}/letter.xml").status_code == 200  # type: ignore[attr-defined]
    assert _push(client, f"company/{CVR}/letter.xml", b"<other/>").status_code == 409  # type: ignore[attr-defined]
