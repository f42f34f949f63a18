"""responses.py through its HTTP API (FastAPI's TestClient), and its Idempotency-Key records over time."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gateway_common.events import status_event
from gateway_common.proto.gateway.v1 import events_pb2, identity_pb2
from gateway_common.storage import StorageLayout
from gateway_status.idempotency import key_record, record_lock
from gateway_status.outbound import Outbound, build_outbound_app
from gateway_status.responses import mount_responses
from gateway_status.retention import DAY, Lifetimes, sweep
from gateway_status.tokens import BackendScope
from gateway_status.writer import StatusWriter

TOKEN = "backend-token"
TENANT = "company/30808460"
WINDOW = Lifetimes(idempotency=7 * DAY)


@pytest.fixture
def layout(tmp_path: Path) -> StorageLayout:
    made = StorageLayout(tmp_path)
    made.ensure()
    return made


@pytest.fixture
def client(layout: StorageLayout) -> Iterator[TestClient]:
    scope = BackendScope(
        token_sha256=hashlib.sha256(TOKEN.encode()).hexdigest(), kinds=["company"], names=["*"], services=["tax"]
    )
    outbound = Outbound(layout, {"tax-agency": scope}, 10_000, 10_000)
    writer = StatusWriter(layout, per_code_files=False)
    app = build_outbound_app(outbound)
    mount_responses(app, outbound, writer)
    with TestClient(app) as made:
        yield made


def _delivered(layout: StorageLayout) -> str:
    """A transaction the backend accepted, as the status service recorded it."""
    gtxid = uuid.uuid4().hex
    layout.spool_txn(gtxid).mkdir(parents=True)
    upload = events_pb2.UploadReceived(
        gateway_txid=gtxid, service="tax", ftp_txid="tx-1.xml", sender=identity_pb2.Sender(tenant=TENANT)
    )
    StatusWriter(layout, per_code_files=False).write(status_event(upload, events_pb2.STATUS_CODE_ACCEPTED, "test"))
    return gtxid


def _respond(client: TestClient, gtxid: str, body: bytes = b"<decision/>", key: str = "k-1") -> int:
    headers = {"Idempotency-Key": key, "Authorization": f"Bearer {TOKEN}"}
    return client.put(f"/responses/{gtxid}/decision.xml", content=body, headers=headers).status_code


def _age(path: Path, days: float) -> None:
    when = time.time() - days * DAY
    os.utime(path, (when, when))


def test_a_response_is_handed_out_once_per_key(client: TestClient, layout: StorageLayout) -> None:
    gtxid = _delivered(layout)
    assert _respond(client, gtxid) == 201
    assert _respond(client, gtxid) == 200
    assert _respond(client, gtxid, b"<other/>") == 409  # the key, for other content
    assert _respond(client, gtxid, key="k-2") == 409  # the name, under another key
    assert [p.name for p in layout.out_dir(TENANT).iterdir() if p.name.startswith("response_")] == [
        "response_tax_tx-1.xml~decision.xml"
    ]


def test_a_replay_within_the_window_is_still_idempotent_after_the_sweep(
    client: TestClient, layout: StorageLayout
) -> None:
    gtxid = _delivered(layout)
    assert _respond(client, gtxid) == 201
    record = key_record(layout.data_dir / "responses", "tax-agency", "k-1")
    _age(record, 6)
    assert sweep(layout, WINDOW).removed["responses"] == 0
    response = layout.out_dir(TENANT) / "response_tax_tx-1.xml~decision.xml"
    response.unlink()  # the client fetched it
    assert _respond(client, gtxid) == 200
    assert not response.exists()  # a deleted response stays deleted

    _age(record, 8)
    assert sweep(layout, WINDOW).removed["responses"] == 1
    assert not record.exists()
    assert not record_lock(record).exists()
    # Past the window the key is forgotten, and the transaction still has a response of that name.
    assert _respond(client, gtxid) == 409


def test_a_record_written_before_sharding_still_answers_a_replay(client: TestClient, layout: StorageLayout) -> None:
    gtxid = _delivered(layout)
    assert _respond(client, gtxid) == 201
    record = key_record(layout.data_dir / "responses", "tax-agency", "k-1")
    answered = json.loads(record.read_text())
    record.unlink()
    (record.parent.parent / record.name).write_text(json.dumps(answered))  # where it lay before sharding
    assert _respond(client, gtxid) == 200
    assert _respond(client, gtxid, b"<other/>") == 409
