"""after_upload.py: SIZE, MDTM, MLST and MFMT still answer for a file that moved on at its 226."""

from __future__ import annotations

import calendar
import ftplib
import io
import time
from pathlib import Path

import pytest
from gateway_ingress import replies

from tests.support.ingress import Ingress, running_ingress
from tests.support.waiting import eventually

DATA = b"<report/>" * 1000


def _uploaded(session: ftplib.FTP_TLS, path: str) -> None:
    assert session.storbinary(f"STOR {path}", io.BytesIO(DATA)).startswith("226")


def test_size_and_mdtm_answer_for_the_upload_that_left(ingress: Ingress) -> None:
    session = ingress.client()
    before = int(time.time())
    _uploaded(session, "heartbeat/tx-size")
    session.voidcmd("TYPE I")
    assert session.size("heartbeat/tx-size") == len(DATA)
    modified = session.sendcmd("MDTM heartbeat/tx-size")
    assert modified.startswith("213 ")
    seconds = calendar.timegm(time.strptime(modified[4:], "%Y%m%d%H%M%S"))
    assert before <= seconds <= time.time() + 1
    with pytest.raises(ftplib.error_perm, match="550"):
        session.size("heartbeat/tx-never")
    session.quit()


def test_size_in_ascii_mode_is_refused_as_for_any_file(ingress: Ingress) -> None:
    session = ingress.client()
    _uploaded(session, "heartbeat/tx-ascii")
    session.voidcmd("TYPE A")
    with pytest.raises(ftplib.error_perm, match="ASCII"):
        session.sendcmd("SIZE heartbeat/tx-ascii")
    session.quit()


def test_mlst_lists_the_facts_of_the_upload(ingress: Ingress) -> None:
    control = ingress.control()
    session = ingress.client()
    _uploaded(session, "heartbeat/tx-mlst")
    home = session.pwd()
    reply = control.send("MLST heartbeat/tx-mlst")
    first, facts, last = reply.splitlines()
    assert first == replies.MLST_LISTING.continued(path=f"{home}/heartbeat/tx-mlst").strip()
    assert facts.startswith(f" type=file;size={len(DATA)};modify=")
    assert facts.endswith(f"; {home}/heartbeat/tx-mlst")
    assert last == replies.MLST_END()
    session.quit()
    control.close()


def test_mfmt_sets_the_time_mdtm_then_answers(ingress: Ingress) -> None:
    session = ingress.client()
    _uploaded(session, "heartbeat/tx-mfmt")
    home = session.pwd()
    set_reply = session.sendcmd("MFMT 20240102030405 heartbeat/tx-mfmt")
    assert set_reply == replies.MODIFY_SET(time="20240102030405", path=f"{home}/heartbeat/tx-mfmt")
    assert session.sendcmd("MDTM heartbeat/tx-mfmt") == "213 20240102030405"
    session.voidcmd("TYPE I")
    assert session.size("heartbeat/tx-mfmt") == len(DATA)  # the size stays
    session.quit()


@pytest.mark.parametrize("time_value", ["2024010203040", "202401020304056", "20241302030405", "yesterday00000"])
def test_mfmt_with_a_malformed_time_is_refused(ingress: Ingress, time_value: str) -> None:
    session = ingress.client()
    with pytest.raises(ftplib.error_perm) as refused:
        session.sendcmd(f"MFMT {time_value} heartbeat/tx-anything")
    assert str(refused.value) == replies.BAD_TIME()
    session.quit()


def test_mfmt_of_a_file_not_just_uploaded_is_refused(ingress: Ingress) -> None:
    session = ingress.client()
    home = session.pwd()
    with pytest.raises(ftplib.error_perm) as refused:
        session.sendcmd("MFMT 20240102030405 heartbeat/tx-not-recent")
    grace = int(ingress.settings.upload_size_grace)
    assert str(refused.value) == replies.MFMT_NOT_RECENT(path=f"{home}/heartbeat/tx-not-recent", grace=grace)
    session.quit()


def test_another_replica_answers_size_for_an_upload_made_here(
    ingress: Ingress, tmp_path: Path, demo_pki: Path, module_vhost: str
) -> None:
    session = ingress.client()
    _uploaded(session, "heartbeat/tx-replica")
    session.quit()
    with running_ingress(tmp_path, demo_pki, module_vhost, data_dir=ingress.settings.data_dir) as replica:
        elsewhere = replica.client()
        elsewhere.voidcmd("TYPE I")

        def answered() -> bool:
            try:
                return elsewhere.size("heartbeat/tx-replica") == len(DATA)
            except ftplib.error_perm:
                return False  # the record is written off the first replica's IO loop: not there yet

        eventually(answered, "the other replica never learned of the upload")
        elsewhere.quit()


def test_without_a_grace_size_answers_as_for_a_missing_file(tmp_path: Path, demo_pki: Path, module_vhost: str) -> None:
    with running_ingress(tmp_path, demo_pki, module_vhost, upload_size_grace=0) as server:
        session = server.client()
        _uploaded(session, "heartbeat/tx-no-grace")
        session.voidcmd("TYPE I")
        with pytest.raises(ftplib.error_perm, match="550"):
            session.size("heartbeat/tx-no-grace")
        session.quit()


def test_mlst_of_a_file_that_stayed_is_pyftpdlibs(ingress: Ingress) -> None:
    out = ingress.tenant_root("company/30808460") / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "kept.xml").write_bytes(b"<s/>")
    session = ingress.client()
    facts = session.sendcmd("MLST /out/kept.xml").splitlines()[1]
    assert "size=4;" in facts
    assert "type=file;" in facts
    assert facts.endswith(" /out/kept.xml")
    session.quit()
