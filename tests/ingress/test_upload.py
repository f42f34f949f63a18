"""upload.py: STOR takes the transaction id, the 226 comes once the upload is durable, refusals keep nothing."""

from __future__ import annotations

import ftplib
import io
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from gateway_ingress import replies

from tests.support.ftps import tls_context
from tests.support.ingress import ROUTES, Ingress, running_ingress
from tests.support.waiting import eventually

TENANT = "company/30808460"


def _spooled(ingress: Ingress, service: str, txid: str) -> bytes:
    """The payload the upload of ``txid`` left in the spool, found through its reservation."""
    reservation = ingress.layout.find_reservation(TENANT, service, txid)
    assert reservation is not None, f"{txid} was not reserved"
    return (ingress.layout.spool_txn(reservation.read_text()) / "payload").read_bytes()


def _send_on_data_connection(ingress: Ingress, port: int, data: bytes) -> None:
    """Connect to the passive ``port`` (TLS, the employee's certificate), send ``data`` and close."""
    context = tls_context(ingress.pki, ingress.cert("employee"))
    with context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1") as channel:
        channel.sendall(data)
        channel.unwrap().close()


def test_an_upload_is_answered_226_once_its_payload_is_in_the_spool(ingress: Ingress) -> None:
    data = b"<report>1</report>\n" * 5000
    session = ingress.client()
    reply = session.storbinary("STOR heartbeat/tx-upload-1", io.BytesIO(data))
    assert reply == replies.UPLOADED(txid="tx-upload-1", service="heartbeat")
    assert _spooled(ingress, "heartbeat", "tx-upload-1") == data
    session.quit()


def test_a_transaction_id_is_taken_once_per_service(ingress: Ingress) -> None:
    session = ingress.client()
    session.storbinary("STOR heartbeat/tx-once", io.BytesIO(b"first"))
    with pytest.raises(ftplib.error_perm) as again:
        session.storbinary("STOR heartbeat/tx-once", io.BytesIO(b"second"))
    assert str(again.value) == replies.TXID_USED_FOR_SERVICE(txid="tx-once", service="heartbeat")
    assert _spooled(ingress, "heartbeat", "tx-once") == b"first"
    # Another service has ids of its own.
    assert session.storbinary("STOR tax-reports/tx-once", io.BytesIO(b"third")).startswith("226")
    session.quit()


def test_colleagues_in_one_company_share_the_transaction_ids_of_a_service(ingress: Ingress) -> None:
    first, second = ingress.client("employee"), ingress.client("employee2")
    first.storbinary("STOR heartbeat/tx-shared", io.BytesIO(b"mine"))
    with pytest.raises(ftplib.error_perm, match="553 Transaction id 'tx-shared' was already used"):
        second.storbinary("STOR heartbeat/tx-shared", io.BytesIO(b"theirs"))
    first.quit()
    second.quit()


def test_names_outside_the_rule_are_refused_before_anything_is_kept(ingress: Ingress) -> None:
    before = ingress.settled_spool()
    session = ingress.client()
    with pytest.raises(ftplib.error_perm) as refused:
        session.storbinary("STOR heartbeat/bad name ", io.BytesIO(b"x"))
    assert str(refused.value).startswith("553 names may hold letters")
    assert ingress.settled_spool() == before
    session.quit()


@pytest.mark.parametrize(
    ("command", "reply"),
    [("STOU", replies.STOU_UNSUPPORTED()), ("APPE heartbeat/tx-appe", replies.APPEND_UNSUPPORTED())],
)
def test_unique_names_and_appending_are_refused(ingress: Ingress, command: str, reply: str) -> None:
    control = ingress.control()
    control.protect()
    assert control.send(command).strip() == reply
    assert ingress.layout.find_reservation(TENANT, "heartbeat", "tx-appe") is None
    control.close()


def test_a_resumed_upload_is_refused_and_the_next_one_starts_at_zero(ingress: Ingress) -> None:
    session = ingress.client()
    with pytest.raises(ftplib.error_perm) as refused:
        session.storbinary("STOR heartbeat/tx-rest", io.BytesIO(b"tail"), rest=100)
    assert str(refused.value) == replies.RESUME_UNSUPPORTED()
    assert session.storbinary("STOR heartbeat/tx-rest", io.BytesIO(b"whole")).startswith("226")
    assert _spooled(ingress, "heartbeat", "tx-rest") == b"whole"
    session.quit()


def test_a_service_withdrawn_after_login_takes_no_upload(ingress: Ingress) -> None:
    session = ingress.client()
    withdrawn = {"routes": {k: v for k, v in ROUTES["routes"].items() if k != "tax-reports"}}
    ingress.set_routes(withdrawn)
    try:
        with pytest.raises(ftplib.error_perm) as refused:
            session.storbinary("STOR tax-reports/tx-withdrawn", io.BytesIO(b"x"))
    finally:
        ingress.set_routes(ROUTES)
    assert str(refused.value) == replies.SERVICE_NOT_PERMITTED(service="tax-reports")
    assert ingress.layout.find_reservation(TENANT, "tax-reports", "tx-withdrawn") is None
    session.quit()


def test_an_upload_into_a_transaction_folder_removes_the_folder_once_the_client_leaves(
    ingress: Ingress,
) -> None:
    session = ingress.client()
    home = session.pwd()
    session.mkd("heartbeat/tx-folder")
    session.cwd("heartbeat/tx-folder")
    session.mkd("in")
    session.cwd("in")
    reply = session.storbinary("STOR løn.xml", io.BytesIO(b"<l/>"))
    assert reply == replies.UPLOADED(txid="tx-folder", service="heartbeat")
    folder = ingress.tenant_root(TENANT) / home.lstrip("/") / "heartbeat" / "tx-folder"
    assert folder.is_dir()  # the client stands in it
    session.cwd(home)
    assert folder.is_dir()  # kept while the session lasts: clients list and re-enter it after the 226
    session.quit()
    eventually(lambda: not folder.exists(), "the spent transaction folder outlived its session")


def test_abor_of_a_stor_waiting_for_its_data_connection_frees_the_id(ingress: Ingress) -> None:
    control = ingress.control()
    control.protect()
    assert control.send("STOR heartbeat/tx-abor").strip() == replies.DATA_OPENING()
    assert ingress.layout.find_reservation(TENANT, "heartbeat", "tx-abor") is not None
    assert control.send("ABOR").strip() == replies.UPLOAD_ABORTED()
    assert control.reply().strip() == replies.ABOR_NOTHING_RUNNING()
    assert ingress.layout.find_reservation(TENANT, "heartbeat", "tx-abor") is None
    control.close()


def test_a_stor_still_waiting_for_its_data_connection_is_answered_before_the_next_stor(ingress: Ingress) -> None:
    # A client whose data connection never came retries the same upload: the waiting STOR gets
    # its own final reply first (every command one), and the retry finds its id free.
    control = ingress.control()
    control.protect()
    assert control.send("STOR heartbeat/tx-retried").strip() == replies.DATA_OPENING()
    port = control.passive_port()
    assert control.send("STOR heartbeat/tx-retried").strip() == replies.STOR_BEFORE_DATA_CONNECTION()
    assert control.reply().strip() == replies.DATA_OPENING()
    _send_on_data_connection(ingress, port, b"retried")
    assert control.reply().strip() == replies.UPLOADED(txid="tx-retried", service="heartbeat")
    assert _spooled(ingress, "heartbeat", "tx-retried") == b"retried"
    control.close()


def test_stors_sent_without_waiting_are_answered_in_order_and_the_data_goes_to_the_last(ingress: Ingress) -> None:
    # Each STOR ends the one before it that still waits for its data connection, in the order sent:
    # the data connection that comes carries the last one, under its own id.
    control = ingress.control()
    control.protect()
    port = control.passive_port()
    assert control.send("STOR heartbeat/tx-piped-a").strip() == replies.DATA_OPENING()
    control.sock.sendall(b"STOR heartbeat/tx-piped-b\r\nSTOR heartbeat/tx-piped-c\r\n")
    waiting_ended = replies.STOR_BEFORE_DATA_CONNECTION()
    assert [control.reply().strip() for _ in range(4)] == [
        waiting_ended,
        replies.DATA_OPENING(),
        waiting_ended,
        replies.DATA_OPENING(),
    ]
    _send_on_data_connection(ingress, port, b"meant for c")
    assert control.reply().strip() == replies.UPLOADED(txid="tx-piped-c", service="heartbeat")
    assert _spooled(ingress, "heartbeat", "tx-piped-c") == b"meant for c"
    for txid in ("tx-piped-a", "tx-piped-b"):
        eventually(lambda t=txid: ingress.layout.find_reservation(TENANT, "heartbeat", t) is None, f"{txid} kept")
    control.close()


def test_abor_right_after_a_stor_that_ended_a_waiting_one_ends_the_new_one(ingress: Ingress) -> None:
    control = ingress.control()
    control.protect()
    control.passive_port()
    assert control.send("STOR heartbeat/tx-abor-d").strip() == replies.DATA_OPENING()
    control.sock.sendall(b"STOR heartbeat/tx-abor-e\r\nABOR\r\n")
    assert control.reply().strip() == replies.STOR_BEFORE_DATA_CONNECTION()
    assert control.reply().strip() == replies.DATA_OPENING()
    assert control.reply().strip() == replies.UPLOAD_ABORTED()
    assert control.reply().strip() == replies.ABOR_NOTHING_RUNNING()
    for txid in ("tx-abor-d", "tx-abor-e"):
        eventually(lambda t=txid: ingress.layout.find_reservation(TENANT, "heartbeat", t) is None, f"{txid} kept")
    assert control.send("NOOP").startswith("200")
    control.close()


def test_an_upload_whose_client_quits_before_its_226_is_kept_and_published(ingress: Ingress) -> None:
    control, data = ingress.storing("heartbeat/tx-quit-early")
    data.sendall(b"<all of it/>")
    assert control.send("QUIT").startswith("221")  # RFC 959: the session ends with the transfer
    data.unwrap().close()
    assert control.closed_by_server()  # pyftpdlib closes with the data connection, before the 226
    # Every byte arrived and the data connection ended cleanly: the upload is the gateway's now.
    eventually(lambda: ingress.layout.find_reservation(TENANT, "heartbeat", "tx-quit-early") is not None, "reserved")
    ingress.settled_spool()  # its event published and moved beside the payload
    assert _spooled(ingress, "heartbeat", "tx-quit-early") == b"<all of it/>"


def test_abor_during_an_upload_answers_426_then_226_and_keeps_nothing(ingress: Ingress) -> None:
    before = ingress.settled_spool()
    session = ingress.client()
    data = session.transfercmd("STOR heartbeat/tx-abor-running")
    data.sendall(b"x" * 100_000)
    assert session.abort() == replies.UPLOAD_ABORTED()
    assert session.getresp() == replies.ABOR_DONE()
    data.close()
    assert ingress.layout.find_reservation(TENANT, "heartbeat", "tx-abor-running") is None
    assert ingress.settled_spool() == before
    session.quit()


def test_uploads_wait_while_the_tenants_out_is_over_its_quota(
    tmp_path: Path, demo_pki: Path, module_vhost: str, demo_index: dict[str, dict[str, Any]]
) -> None:
    with running_ingress(tmp_path, demo_pki, module_vhost, out_quota_bytes=100) as server:
        (server.tenant_root(TENANT) / "out").mkdir(parents=True)
        (server.tenant_root(TENANT) / "out" / "big.xml").write_bytes(b"x" * 101)
        session = server.client("employee")
        with pytest.raises(ftplib.error_perm) as refused:
            session.storbinary("STOR heartbeat/tx-over", io.BytesIO(b"x"))
        assert str(refused.value) == replies.OUT_QUOTA(used=101, quota=100)
        assert server.layout.find_reservation(TENANT, "heartbeat", "tx-over") is None
        session.quit()
        personal = server.client("personal")  # another tenant, its own /out
        personal_out = server.tenant_root(f"personal/{demo_index['personal']['subject_id']}") / "out"
        (personal_out / "s.xml").write_bytes(b"x" * 100)  # at the quota, not over it
        assert personal.storbinary("STOR heartbeat/tx-at-quota", io.BytesIO(b"x")).startswith("226")
        personal.quit()


@pytest.mark.parametrize("sent_before", [b"", b"first part "])
def test_a_second_stor_while_an_upload_runs_is_refused_and_the_first_is_kept_whole(
    ingress: Ingress, sent_before: bytes
) -> None:
    # Whether or not the first bytes have arrived when the second STOR does: the data connection
    # carries the first upload, and pointing it at another file would splice two into one.
    txid = f"tx-running-{len(sent_before)}"
    control, data = ingress.storing(f"heartbeat/{txid}")
    data.sendall(sent_before)
    assert control.send(f"STOR heartbeat/{txid}-spliced").strip() == replies.TRANSFER_IN_PROGRESS()
    data.sendall(b"second part")
    data.unwrap().close()
    assert control.reply().strip() == replies.UPLOADED(txid=txid, service="heartbeat")
    assert _spooled(ingress, "heartbeat", txid) == sent_before + b"second part"
    assert ingress.layout.find_reservation(TENANT, "heartbeat", f"{txid}-spliced") is None
    control.close()


@pytest.mark.parametrize("broken", ["spool", "txids"])
def test_a_storage_that_cannot_take_the_upload_refuses_it_and_keeps_the_id_free(
    tmp_path: Path, demo_pki: Path, module_vhost: str, broken: str
) -> None:
    with running_ingress(tmp_path, demo_pki, module_vhost) as server:
        folder = server.layout.data_dir / broken
        shutil.rmtree(folder)
        folder.write_text("a file where the folder should be")
        session = server.client()
        with pytest.raises(ftplib.error_temp) as refused:
            session.storbinary("STOR heartbeat/tx-broken", io.BytesIO(b"x"))
        assert str(refused.value) == replies.CANNOT_ACCEPT(reason="Not a directory")
        folder.unlink()
        folder.mkdir()
        assert session.storbinary("STOR heartbeat/tx-broken", io.BytesIO(b"x")).startswith("226")
        session.quit()
