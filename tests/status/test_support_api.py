"""The read-only support API: its real FastAPI app over real files, the broker asked on a private vhost."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from gateway_common.messaging import Bus
from gateway_common.storage import StorageLayout
from gateway_status.settings import StatusSettings
from gateway_status.support_api import build_support_router
from gateway_status.trace import StatusNaming

from tests.support.ports import free_port
from tests.support.transactions import stored_transaction

TOKEN = "support-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TENANT = "company/30808460"
MINE = "1" * 32
THEIRS = "2" * 32
RECEIVED = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _client(tmp_path: Path, amqp_url: str) -> TestClient:
    settings = StatusSettings(
        data_dir=tmp_path,
        amqp_url=amqp_url,
        support_tokens={"alice": hashlib.sha256(TOKEN.encode()).hexdigest()},
    )
    layout = StorageLayout(tmp_path)
    layout.ensure()
    stored_transaction(layout, TENANT, MINE, "tx-mine", RECEIVED)
    stored_transaction(layout, "company/12345678", THEIRS, "tx-theirs", RECEIVED)
    app = FastAPI()
    app.include_router(build_support_router(layout, settings, StatusNaming.of(settings)))
    return TestClient(app)


@pytest.fixture
def client(tmp_path: Path, bus: Bus, amqp_url: str) -> Iterator[TestClient]:
    # The bus fixture has declared the topology, gateway.parked included, on the private vhost.
    del bus
    with _client(tmp_path, amqp_url) as made:
        yield made


@pytest.mark.parametrize("authorization", ["", "Bearer wrong", f"Basic {TOKEN}", TOKEN])
def test_every_route_refuses_a_missing_or_wrong_token(client: TestClient, authorization: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answers = [
        client.get(f"/support/transactions/{MINE}", headers=headers),
        client.post(
            "/support/transactions/find",
            json={"cvr": "30808460", "service": "tax-reports", "ftp_txid": "tx-mine"},
            headers=headers,
        ),
        client.post(
            "/support/transactions/search", json={"cvr": "30808460", "from": "2026-11-01T00:00:00"}, headers=headers
        ),
    ]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert all(a.headers["WWW-Authenticate"] == "Bearer" for a in answers)


def test_trace_by_gateway_id_with_the_broker_asked(client: TestClient) -> None:
    answer = client.get(f"/support/transactions/{MINE}", headers=AUTH)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["gateway_txid"], body["tenant"], body["ftp_txid"], body["current_code"]) == (
        MINE,
        TENANT,
        "tx-mine",
        2,
    )
    assert sorted(step["kind"] for step in body["steps"]) == ["routing", "status", "upload"]
    assert "no message of this transaction is parked" in body["notes"]


def test_trace_without_a_broker_still_answers_from_storage_and_says_so(tmp_path: Path) -> None:
    with _client(tmp_path, f"amqp://guest:guest@127.0.0.1:{free_port()}/") as client:
        answer = client.get(f"/support/transactions/{MINE}", headers=AUTH)
    assert answer.status_code == 200
    assert "the broker was not asked: parked messages unknown" in answer.json()["notes"]


def test_unknown_and_malformed_ids_are_404(client: TestClient) -> None:
    assert client.get(f"/support/transactions/{'3' * 32}", headers=AUTH).status_code == 404
    assert client.get("/support/transactions/..%2F..%2Fetc", headers=AUTH).status_code == 404


def test_find_by_the_clients_id_stays_inside_the_named_tenant(client: TestClient) -> None:
    found = client.post(
        "/support/transactions/find",
        json={"cvr": "30808460", "service": "tax-reports", "ftp_txid": "tx-mine"},
        headers=AUTH,
    )
    assert found.status_code == 200
    assert found.json()["gateway_txid"] == MINE
    other = client.post(
        "/support/transactions/find",
        json={"cvr": "30808460", "service": "tax-reports", "ftp_txid": "tx-theirs"},
        headers=AUTH,
    )
    assert other.status_code == 404
    escape = client.post(
        "/support/transactions/find", json={"cvr": "30808460", "service": "..", "ftp_txid": "tx-mine"}, headers=AUTH
    )
    assert escape.status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"service": "tax-reports", "ftp_txid": "tx-mine"}, 404),  # no tenant
        ({"cvr": "30808460", "pid": "PID-1", "service": "tax-reports", "ftp_txid": "tx-mine"}, 404),  # two
        ({"cvr": "3080846", "service": "tax-reports", "ftp_txid": "tx-mine"}, 422),  # not 8 digits
        ({"cvr": "30808460", "service": "", "ftp_txid": "tx-mine"}, 422),
    ],
)
def test_find_refuses_a_tenant_not_named_exactly_once(client: TestClient, body: dict[str, str], status: int) -> None:
    assert client.post("/support/transactions/find", json=body, headers=AUTH).status_code == status


def test_search_is_half_open_treats_naive_times_as_utc_and_keeps_tenants_apart(client: TestClient) -> None:
    def search(**body: object) -> dict[str, object]:
        answer = client.post("/support/transactions/search", json={"cvr": "30808460", **body}, headers=AUTH)
        assert answer.status_code == 200, answer.text
        result: dict[str, object] = answer.json()
        return result

    hit = search(**{"from": "2026-11-02T09:00:00", "to": "2026-11-02T10:00:00"})
    assert hit == {
        "total": 1,
        "transactions": [
            {
                "received_at": RECEIVED.isoformat(),
                "service": "tax-reports",
                "ftp_txid": "tx-mine",
                "gateway_txid": MINE,
                "current_code": 2,
            }
        ],
    }
    # Naive times are UTC (whatever the host zone): the hour before 09:00 UTC misses the upload.
    assert search(**{"from": "2026-11-02T08:00:00", "to": "2026-11-02T09:00:00"})["total"] == 0
    assert search(**{"from": "2026-11-02T10:00:00+01:00", "to": "2026-11-02T11:00:00+01:00"})["total"] == 1
    assert search(**{"from": "2026-11-01T00:00:00"})["total"] == 1  # "to" defaults to now
    assert search(**{"from": "2026-11-01T00:00:00", "service": "payroll"})["total"] == 0
    limit = client.post(
        "/support/transactions/search",
        json={"cvr": "30808460", "from": "2026-11-01T00:00:00", "limit": 0},
        headers=AUTH,
    )
    assert limit.status_code == 422
