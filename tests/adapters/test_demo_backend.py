"""The demo backend's own answers, on its real FastAPI app (test_http_contract runs it as a process)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from gateway_adapter_http.demo_backend import build_app


@pytest.fixture
def backend() -> Iterator[TestClient]:
    with TestClient(build_app()) as client:
        yield client


def test_a_redelivery_gets_the_first_transaction_id_and_200(backend: TestClient) -> None:
    first = backend.post("/files", content=b"<r/>", headers={"Idempotency-Key": "k-1", "X-File-Name": "r.xml"})
    again = backend.post("/files", content=b"<r/>", headers={"Idempotency-Key": "k-1", "X-File-Name": "r.xml"})
    other = backend.post("/files", content=b"<r/>", headers={"Idempotency-Key": "k-2", "X-File-Name": "r.xml"})
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert first.json()["message"] == "file accepted"
    assert again.json() == {
        "transaction_id": first.json()["transaction_id"],
        "message": "duplicate delivery recognised",
    }
    assert other.json()["transaction_id"] != first.json()["transaction_id"]
    assert backend.get("/deliveries").json() == {"k-1": 2, "k-2": 1}


@pytest.mark.parametrize(
    ("name", "body", "status", "reason"),
    [
        ("r.txt", b"", 422, "the file is empty"),
        ("r.XML", b"<open>", 422, "the file is not well-formed XML: "),
        ("r.txt", b"<open>", 201, None),  # only .xml files are parsed
    ],
)
def test_empty_and_malformed_xml_files_are_refused_with_the_reason(
    backend: TestClient, name: str, body: bytes, status: int, reason: str | None
) -> None:
    answer = backend.post("/files", content=body, headers={"Idempotency-Key": "k", "X-File-Name": name})
    assert answer.status_code == status
    if reason is not None:
        assert answer.json()["reason"].startswith(reason)


def test_a_body_that_does_not_match_its_sha256_is_400(backend: TestClient) -> None:
    body = b"<r/>"
    right = hashlib.sha256(body).hexdigest()
    headers = {"Idempotency-Key": "k", "X-File-Name": "r.xml"}
    assert backend.post("/files", content=body, headers={**headers, "X-Content-SHA256": "0" * 64}).status_code == 400
    assert backend.post("/files", content=body, headers={**headers, "X-Content-SHA256": right}).status_code == 201


def test_unavailable_answers_503_until_switched_off_and_counts_nothing(backend: TestClient) -> None:
    headers = {"Idempotency-Key": "k", "X-File-Name": "r.xml"}
    assert backend.put("/unavailable/true").json() == {"unavailable": True}
    answer = backend.post("/files", content=b"<r/>", headers=headers)
    assert (answer.status_code, answer.json()) == (503, {"reason": "backend under maintenance"})
    assert backend.get("/deliveries").json() == {}
    backend.put("/unavailable/false")
    assert backend.post("/files", content=b"<r/>", headers=headers).status_code == 201


def test_files_named_respond_get_a_receipt_naming_transaction_and_digest(backend: TestClient) -> None:
    body = b"<order/>"
    answer = backend.post("/files", content=body, headers={"Idempotency-Key": "k", "X-File-Name": "respond-1.xml"})
    response = answer.json()["response"]
    assert response["name"] == "receipt.xml"
    receipt = base64.b64decode(response["content_base64"]).decode()
    assert receipt == (
        f'<receipt transaction="{answer.json()["transaction_id"]}" sha256="{hashlib.sha256(body).hexdigest()}"/>'
    )
    plain = backend.post("/files", content=body, headers={"Idempotency-Key": "k2", "X-File-Name": "order.xml"})
    assert "response" not in plain.json()


def test_percent_encoded_names_are_decoded_and_the_raw_header_kept(backend: TestClient) -> None:
    name = "årsrapport 2026.xml"
    headers = {
        "Idempotency-Key": "k",
        "X-File-Name": quote(name),
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
        "X-FTP-Transaction-ID": quote("tx æ"),
    }
    assert backend.post("/files", content=b"<r/>", headers=headers).status_code == 201
    assert backend.get("/names").json() == {
        "k": {"x-file-name": name, "filename*": name, "x-ftp-transaction-id": "tx æ"}
    }
    assert backend.get("/raw-names").json() == {"k": quote(name)}


def test_a_delivery_without_an_idempotency_key_is_refused(backend: TestClient) -> None:
    assert backend.post("/files", content=b"<r/>", headers={"X-File-Name": "r.xml"}).status_code == 422
