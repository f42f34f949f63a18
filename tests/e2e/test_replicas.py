"""Two replicas of every service on one data directory and one broker, as the chart runs them.

Two ingress, two router, two status and two processes of each adapter share a data dir and a
vhost. The same transaction id sent through both ingress replicas at once is accepted once;
SIZE/MDTM answer on the other replica; two status replicas never lose or mix up updates; two
sweeping replicas remove each expired item once; and a burst survives kill -9 of one replica of
each kind plus a broker connection drop with exactly one final status per 226.
"""

from __future__ import annotations

import asyncio
import ftplib
import io
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gateway_common.events import new_id, status_event, timestamp
from gateway_common.messaging import RK_STATUS, Bus
from gateway_common.proto.gateway.v1 import events_pb2, identity_pb2
from gateway_common.storage import StorageLayout, in_shard
from gateway_status.ledger import Ledger, read_history

from tests.support.broker import close_connections
from tests.support.burst import final_statuses, own_gateway, upload_until
from tests.support.clients import ClientCert, ftps, read_status
from tests.support.gateway import SERVICES, Gateway
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e
TENANT = "company/30808460"
SERVICE = "tax-reports"
DAY = 86400.0


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, pki: Path) -> Iterator[Gateway]:
    def replicate(gw: Gateway) -> None:
        for service in SERVICES:
            gw.add_replica(service)

    # Short retries; the status replicas sweep every second, so the sweep test sees both at work.
    env = {"GATEWAY_RETRY_DELAYS": "[0.3, 0.6, 1]", "GATEWAY_MAX_ATTEMPTS": "4", "GATEWAY_RETENTION_INTERVAL": "1"}
    with own_gateway(tmp_path_factory.mktemp("replicas"), pki, env, replicate) as gw:
        yield gw


def _session(gw: Gateway, pki: Path, ingress: str, name: str = "employee") -> ftplib.FTP_TLS:
    return ftps(gw.ftps_port_of(ingress), pki, ClientCert.from_pki(pki, name))


def _store(session: ftplib.FTP_TLS, path: str, data: bytes, start: threading.Barrier) -> str:
    session.voidcmd("TYPE I")
    start.wait(10)
    try:
        return session.storbinary(f"STOR {path}", io.BytesIO(data))
    except ftplib.error_perm as refused:
        return str(refused)


def test_same_transaction_id_through_both_ingress_replicas_is_accepted_once(pair: Gateway, pki: Path) -> None:
    sessions = [_session(pair, pki, "ingress"), _session(pair, pki, "ingress#2")]
    accepted = 0
    try:
        for _ in range(15):
            txid = f"race-{uuid.uuid4().hex[:10]}"
            start = threading.Barrier(2)
            with ThreadPoolExecutor(2) as pool:
                futures = [pool.submit(_store, s, f"heartbeat/{txid}", b"<race/>", start) for s in sessions]
                replies = [f.result() for f in futures]
            assert sorted(r[:3] for r in replies) == ["226", "553"], replies
            assert any("already used" in r for r in replies), replies
            accepted += 1
    finally:
        for session in sessions:
            session.quit()
    print(f"\n{accepted} transaction ids raced through two ingress replicas: each accepted exactly once")


def test_size_and_mdtm_answer_on_the_other_ingress_replica(pair: Gateway, pki: Path) -> None:
    txid = f"grace-{uuid.uuid4().hex[:10]}"
    first = _session(pair, pki, "ingress")
    try:
        first.cwd("heartbeat")
        assert first.storbinary(f"STOR {txid}", io.BytesIO(b"12345678")).startswith("226")
    finally:
        first.quit()
    other = _session(pair, pki, "ingress#2")  # the client reconnects, through DNS, elsewhere
    try:
        other.cwd("heartbeat")
        other.voidcmd("TYPE I")
        assert other.sendcmd(f"SIZE {txid}") == "213 8"
        assert re.fullmatch(r"213 \d{14}", other.sendcmd(f"MDTM {txid}"))
        with pytest.raises(ftplib.error_perm, match=r"^550"):
            other.sendcmd(f"SIZE never-{txid}")
    finally:
        other.quit()


def _histories(out: Path, txids: list[str]) -> dict[str, list[str | None]]:
    """The codes of each status file's history, then its current code."""
    time.sleep(1)  # a late duplicate would show now
    histories: dict[str, list[str | None]] = {}
    for txid in txids:
        status = read_status(out / f"status_{SERVICE}_{txid}.xml")
        codes = [event.findtext("StatusCode") for event in status.iter("Event")]
        histories[txid] = [*codes, status.findtext("StatusCode")]
    return histories


def test_acknowledged_uploads_survive_one_replica_of_each_kind_killed(pair: Gateway, pki: Path, tmp_path: Path) -> None:
    client = ClientCert.from_pki(pki, "employee")
    stop = threading.Event()
    faults = ("ingress", "router#2", "adapter-http", "status#2", "adapter-heartbeat#2", "broker")
    with ThreadPoolExecutor(4) as pool:
        bursts = [
            pool.submit(upload_until, pair, client, tmp_path, stop, SERVICE, pair.ftps_port_of(ingress))
            for ingress in ("ingress", "ingress#2") * 2
        ]
        for fault in faults:
            time.sleep(1.5)
            if fault == "broker":
                close_connections(pair.amqp_url)
            else:
                pair.crash(fault)
        time.sleep(1.5)
        stop.set()
        results = {txid: ok for burst in bursts for txid, ok in burst.result().items()}
    acknowledged = [txid for txid, ok in results.items() if ok]
    final_statuses(pair.out_dir(TENANT), SERVICE, acknowledged, timeout=90)
    histories = _histories(pair.out_dir(TENANT), acknowledged)
    for txid, codes in histories.items():
        # One "sent", one "accepted" (however many replicas handled them), status 2 at the end.
        assert sorted(codes[:-1]) == ["1", "2"], (txid, codes)
        assert codes[-1] == "2", (txid, codes)
    print(
        f"\nreplicated fault burst: {len(results)} uploads, {len(acknowledged)} acknowledged, "
        f"{len(faults)} faults, {len(histories)} with exactly one final status"
    )
    assert len(acknowledged) >= 20, "the burst should get most uploads through"


async def _publish_all(url: str, events: list[events_pb2.StatusEvent]) -> None:
    bus = Bus(url, "gateway")
    await bus.connect()
    try:
        await bus.declare_status()
        await asyncio.gather(*(bus.publish(RK_STATUS, e, e.event_id) for e in events))
    finally:
        await bus.close()


def test_two_status_replicas_never_lose_or_mix_updates(pair: Gateway) -> None:
    transactions = 60
    events: list[events_pb2.StatusEvent] = []
    uploads = []
    for n in range(transactions):
        upload = events_pb2.UploadReceived(
            gateway_txid=new_id(),
            service="heartbeat",
            ftp_txid=f"mix-{uuid.uuid4().hex[:8]}-{n}",
            file_name="f",
            sender=identity_pb2.Sender(tenant=TENANT),
        )
        uploads.append(upload)
        for code in (events_pb2.STATUS_CODE_SENT, events_pb2.STATUS_CODE_ACCEPTED):
            event = status_event(upload, code, "test")  # type: ignore[arg-type]
            events += [event, event]  # every event redelivered once: recorded once
    # Interleaved: both events of a transaction arrive together, at both status replicas.
    asyncio.run(_publish_all(pair.amqp_url, events))
    layout = StorageLayout(pair.data_dir)
    out = pair.out_dir(TENANT)
    deadline = time.monotonic() + 60
    pending = {u.ftp_txid for u in uploads}
    while pending and time.monotonic() < deadline:
        for upload in uploads:
            path = out / f"status_heartbeat_{upload.ftp_txid}.xml"
            if (
                upload.ftp_txid in pending
                and path.exists()
                and [e.findtext("StatusCode") for e in read_status(path).iter("Event")] == ["1", "2"]
            ):
                pending.discard(upload.ftp_txid)
        time.sleep(0.2)
    assert not pending, f"{len(pending)} transactions lost an update: {sorted(pending)[:3]}"
    for upload in uploads:
        ledger = layout.find_ledger(upload.gateway_txid)
        assert ledger is not None
        assert [e.code for e in read_history(ledger)] == [events_pb2.STATUS_CODE_SENT, events_pb2.STATUS_CODE_ACCEPTED]
        assert read_status(out / f"status_heartbeat_{upload.ftp_txid}.xml").findtext("StatusCode") == "2"
    assert "status written" in pair.log("status")
    assert "status written" in pair.log("status#2"), "the second replica took its share"


def _removed(gw: Gateway, status: str) -> float:
    total = 0.0
    for line in gw.metrics(status).splitlines():
        if line.startswith("gateway_storage_removed_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_two_sweeping_status_replicas_remove_each_expired_item_once(pair: Gateway) -> None:
    layout = StorageLayout(pair.data_dir)
    ledger = Ledger(layout.ledger_dir)
    before = _removed(pair, "status") + _removed(pair, "status#2")
    old = time.time() - 400 * DAY
    planted: list[Path] = []
    pair.out_dir(TENANT).mkdir(parents=True, exist_ok=True)  # made by a login, which this test may not follow
    for n in range(200):
        # A finished transaction whose payload outlived the replay window.
        gtxid = new_id()
        folder = layout.spool_txn(gtxid)
        folder.mkdir(parents=True)
        (folder / "payload").write_bytes(b"old")
        upload = events_pb2.UploadReceived(
            gateway_txid=gtxid, service="heartbeat", ftp_txid=f"old-{n}", sender=identity_pb2.Sender(tenant=TENANT)
        )
        accepted = status_event(upload, events_pb2.STATUS_CODE_ACCEPTED, "test")
        accepted.occurred_at.CopyFrom(timestamp(datetime.fromtimestamp(old, UTC)))
        with ledger.locked(gtxid):
            ledger.save(gtxid, ledger.history_with(accepted)[0])
        # An expired reservation and an expired /out file.
        reservation = in_shard(layout.txid_dir / TENANT / "heartbeat", f"old-{n}", f"old-{n}")
        reservation.parent.mkdir(parents=True, exist_ok=True)
        reservation.touch()
        expired_out = pair.out_dir(TENANT) / f"status_heartbeat_expired-{n}.xml"
        expired_out.write_bytes(b"<old/>")
        for path in (folder / "payload", folder, reservation, expired_out):
            os.utime(path, (old, old))
        planted += [folder, reservation, expired_out]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(p.exists() for p in planted):
        time.sleep(0.5)
    assert not [p for p in planted if p.exists()]
    # Each replica publishes its counts when its round has finished.
    eventually(
        lambda: _removed(pair, "status") + _removed(pair, "status#2") - before >= len(planted),
        "both replicas counted their removals",
        timeout=30,
        poll=0.2,
    )
    time.sleep(2.5)  # a round that counted one item twice would have finished by now
    removed = _removed(pair, "status") + _removed(pair, "status#2") - before
    print(f"\n{len(planted)} expired items, {removed:.0f} removals counted by two sweeping status replicas")
    assert removed == len(planted)
