"""out.py: deletes in the shared /out leave an audit record; HASH and XSHA256 read off the FTP IO loop."""

from __future__ import annotations

import ftplib
import hashlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from gateway_ingress import replies

from tests.support.ingress import Ingress, running_ingress
from tests.support.waiting import eventually

TENANT = "company/30808460"


def _out(ingress: Ingress, tenant: str = TENANT) -> Path:
    out = ingress.tenant_root(tenant) / "out"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _audit(ingress: Ingress) -> list[dict[str, Any]]:
    path = ingress.layout.audit_file
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_delete_in_out_removes_the_file_and_records_who_did_it(
    ingress: Ingress, demo_index: dict[str, dict[str, Any]]
) -> None:
    (_out(ingress) / "status-del.xml").write_text("<s/>")
    session = ingress.client("employee2")
    assert session.delete("/out/status-del.xml").startswith("250")
    assert not (_out(ingress) / "status-del.xml").exists()
    eventually(lambda: any(r["file"] == "out/status-del.xml" for r in _audit(ingress)), "no audit record")
    (record,) = [r for r in _audit(ingress) if r["file"] == "out/status-del.xml"]
    assert record["action"] == "delete"
    assert record["tenant"] == TENANT
    assert record["serial_number"] == demo_index["employee2"]["serial_number"]
    assert record["kind"] == "employee"
    assert record["remote_ip"] == "127.0.0.1"
    assert len(record["certificate_sha256"]) == 64
    assert record["at"].endswith("Z")
    session.quit()


def test_another_company_cannot_delete_or_hash_our_files(ingress: Ingress) -> None:
    (_out(ingress) / "ours.xml").write_text("<s/>")
    session = ingress.client("other-employee")
    with pytest.raises(ftplib.error_perm):
        session.delete("/out/ours.xml")
    with pytest.raises(ftplib.error_perm, match="No such file"):
        session.sendcmd("HASH /out/ours.xml")
    assert (_out(ingress) / "ours.xml").exists()
    session.quit()


def test_hash_and_xsha256_answer_with_the_files_sha256(ingress: Ingress) -> None:
    data = b"<status>done</status>" * 10_000
    (_out(ingress) / "hashed.xml").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    session = ingress.client()
    assert session.sendcmd("HASH /out/hashed.xml") == replies.HASH(last=len(data) - 1, digest=digest, name="hashed.xml")
    assert session.sendcmd("XSHA256 /out/hashed.xml") == replies.XSHA256(digest=digest)
    (_out(ingress) / "empty.xml").write_bytes(b"")
    empty = hashlib.sha256(b"").hexdigest()
    assert session.sendcmd("HASH /out/empty.xml") == replies.HASH(last=0, digest=empty, name="empty.xml")
    session.quit()


def test_hash_of_a_file_that_is_gone_says_why(ingress: Ingress) -> None:
    session = ingress.client()
    with pytest.raises(ftplib.error_perm) as failed:
        session.sendcmd("HASH /out/never-there.xml")
    assert str(failed.value) == replies.HASH_FAILED(reason="No such file or directory")
    session.quit()


def test_commands_sent_during_a_hash_are_answered_after_it_in_order(ingress: Ingress) -> None:
    (_out(ingress) / "twice.xml").write_bytes(b"x" * 1000)
    (_out(ingress) / "other.xml").write_bytes(b"y" * 10)
    control = ingress.control()
    # Pipelined, one segment: one file is read at a time, and every reply comes in the order asked.
    control.sock.sendall(b"HASH /out/twice.xml\r\nNOOP\r\nHASH /out/other.xml\r\nXSHA256 /out/twice.xml\r\n")
    assert control.reply().startswith("213 SHA-256 0-999 ")
    assert control.reply().startswith("200")
    assert control.reply().startswith("213 SHA-256 0-9 ")
    assert control.reply().strip() == replies.XSHA256(digest=hashlib.sha256(b"x" * 1000).hexdigest())
    control.close()


def test_a_delete_in_out_frees_the_quota_at_once(tmp_path: Path, demo_pki: Path, module_vhost: str) -> None:
    with running_ingress(tmp_path, demo_pki, module_vhost, out_quota_bytes=100, out_quota_max_age=3600) as server:
        (_out(server) / "big.xml").write_bytes(b"x" * 200)
        session = server.client()
        with pytest.raises(ftplib.error_perm, match=r"^552 "):
            session.storbinary("STOR heartbeat/tx-quota", io.BytesIO(b"x"))
        session.delete("/out/big.xml")
        # The measurement is an hour old at most; the delete alone makes it be taken again.
        assert session.storbinary("STOR heartbeat/tx-quota", io.BytesIO(b"x")).startswith("226")
        session.quit()


def _fifo(folder: Path, name: str) -> Path:
    """A named pipe in /out: a HASH of it waits, off the loop, until the test writes."""
    path = folder / name
    os.mkfifo(path)
    return path


def _release(fifo: Path, data: bytes = b"late") -> None:
    with fifo.open("wb") as writer:  # opens once the hash has opened it for reading
        writer.write(data)


def test_noops_sent_while_a_hash_waits_keep_the_session_alive(
    tmp_path: Path, demo_pki: Path, module_vhost: str
) -> None:
    with running_ingress(tmp_path, demo_pki, module_vhost, idle_timeout=2) as server:
        fifo = _fifo(_out(server), "slow.xml")
        control = server.control()
        control.sock.sendall(b"HASH /out/slow.xml\r\n")
        for _ in range(5):  # 2.5 s: past the idle timeout, had the waiting NOOPs not counted
            time.sleep(0.5)
            control.sock.sendall(b"NOOP\r\n")
        _release(fifo)
        assert control.reply().startswith("213 SHA-256 0-3 ")
        assert [control.reply()[:3] for _ in range(5)] == ["200"] * 5
        control.close()


def test_a_command_sent_after_quit_during_an_upload_never_runs(ingress: Ingress) -> None:
    folder = _out(ingress)
    fifo = _fifo(folder, "slow-quit.xml")
    (folder / "victim.xml").write_bytes(b"keep me")
    control, data = ingress.storing("heartbeat/tx-quit-during-hash")
    control.sock.sendall(b"HASH /out/slow-quit.xml\r\nQUIT\r\n")
    time.sleep(0.2)
    # After QUIT, in a segment of its own: pyftpdlib no longer reads a session whose QUIT waits
    # for its transfer, so neither may the commands that waited for the hash.
    control.sock.sendall(b"DELE /out/victim.xml\r\n")
    time.sleep(0.2)
    _release(fifo)
    assert control.reply().startswith("213 SHA-256 0-3 ")
    assert control.reply().startswith("221")
    data.sendall(b"<x/>")
    data.unwrap().close()
    assert control.closed_by_server()  # with the transfer (pyftpdlib's QUIT; the 226 is not awaited)
    assert (folder / "victim.xml").read_bytes() == b"keep me", "a command sent after QUIT ran"
