"""folders.py: MKD within the tenant's folder limit and the name rule, and listings that say they were cut."""

from __future__ import annotations

import ftplib
import io
from pathlib import Path

import pytest
from gateway_common.identity import CertificateKind, Identity
from gateway_common.storage import StorageLayout
from gateway_ingress import replies
from gateway_ingress.folders import transaction_folders
from gateway_ingress.tenant import TenantView

from tests.support.ingress import Ingress, running_ingress

TENANT = "company/30808460"
EMPLOYEE = Identity(CertificateKind.EMPLOYEE, "OCES2", "1", "CVR:30808460-RID:1", "E", cvr="30808460")
COLLEAGUE = Identity(CertificateKind.EMPLOYEE, "OCES2", "2", "CVR:30808460-RID:2", "C", cvr="30808460")
PERSONAL = Identity(CertificateKind.PERSONAL, "OCES2", "9208-2002-2-1", "PID:9208-2002-2-1", "P")


def test_transaction_folders_of_a_company_are_counted_across_its_certificates(tmp_path: Path) -> None:
    layout = StorageLayout(tmp_path)
    mine = TenantView.prepare(layout, EMPLOYEE, ["a", "b"])
    theirs = TenantView.prepare(layout, COLLEAGUE, ["a"])
    for folder in ["a/tx-1", "a/tx-2", "b/tx-3"]:
        (mine.services_dir / folder).mkdir()
    (theirs.services_dir / "a" / "tx-4").mkdir()
    (mine.services_dir / "a" / "upload-file").write_text("a file is no folder")
    (mine.services_dir / "a" / ".tmp-x").mkdir()
    (mine.root / "out" / "status").mkdir()  # /out is no service folder
    assert transaction_folders(mine, 100) == 4
    assert transaction_folders(theirs, 100) == 4
    assert transaction_folders(mine, 2) == 2  # counting stops at the limit


def test_transaction_folders_of_a_personal_root(tmp_path: Path) -> None:
    view = TenantView.prepare(StorageLayout(tmp_path), PERSONAL, ["a"])
    assert transaction_folders(view, 100) == 0
    (view.root / "a" / "tx-1").mkdir()
    (view.root / "a" / "tx-1" / "in").mkdir()  # in/ is part of its transaction folder
    assert transaction_folders(view, 100) == 1


def test_mkd_of_a_name_outside_the_rule_is_refused(ingress: Ingress) -> None:
    session = ingress.client()
    with pytest.raises(ftplib.error_perm) as refused:
        session.mkd("heartbeat/tx folder.")
    assert str(refused.value).startswith("553 names may hold letters")
    assert not [p for p in (ingress.tenant_root(TENANT)).rglob("tx folder*")]
    session.quit()


def test_mkd_of_a_transaction_id_too_long_in_bytes_gets_the_byte_rule(ingress: Ingress) -> None:
    # 200 letters pass the character rule, but 400 bytes do not fit the names derived from the id:
    # the client is told the byte rule before anything is made, as STOR would tell it.
    session = ingress.client()
    with pytest.raises(ftplib.error_perm) as refused:
        session.mkd("heartbeat/" + "æ" * 200)
    assert str(refused.value).startswith("553 the transaction id is 400 bytes in UTF-8")
    assert not [p for p in ingress.tenant_root(TENANT).rglob("æ*")]
    session.quit()


def test_mkd_of_a_used_transaction_id_is_refused(ingress: Ingress) -> None:
    session = ingress.client()
    session.storbinary("STOR heartbeat/tx-used", io.BytesIO(b"x"))
    with pytest.raises(ftplib.error_perm) as refused:
        session.mkd("heartbeat/tx-used")
    assert str(refused.value) == replies.TXID_USED(txid="tx-used")
    assert session.mkd("tax-reports/tx-used").endswith("tax-reports/tx-used")  # other service, other ids
    session.quit()


def test_mkd_beyond_the_tenants_folder_limit_is_refused_until_one_goes(
    tmp_path: Path, demo_pki: Path, module_vhost: str
) -> None:
    with running_ingress(tmp_path, demo_pki, module_vhost, max_transaction_folders=2) as server:
        first, second = server.client("employee"), server.client("employee2")
        first.mkd("heartbeat/tx-1")
        second.mkd("tax-reports/tx-2")
        with pytest.raises(ftplib.error_perm) as refused:
            first.mkd("heartbeat/tx-3")
        assert str(refused.value) == replies.TOO_MANY_FOLDERS(count=2, limit=2)
        assert first.mkd("heartbeat/tx-1/in")  # in/ of a folder already made is no new transaction
        first.rmd("heartbeat/tx-1/in")
        first.rmd("heartbeat/tx-1")
        assert first.mkd("heartbeat/tx-3")
        first.quit()
        second.quit()


def test_a_listing_cut_at_the_limit_says_so_before_the_names(tmp_path: Path, demo_pki: Path, module_vhost: str) -> None:
    with running_ingress(tmp_path, demo_pki, module_vhost, max_list_entries=3) as server:
        out = server.tenant_root(TENANT) / "out"
        out.mkdir(parents=True)
        for n in range(5):
            (out / f"s{n}.xml").write_text("<s/>")
        control = server.control()
        control.protect()
        with server.data_connection(control) as data:
            reply = control.send("NLST /out")
            names = data.makefile("rb").read().decode().split()
        shown = replies.LISTING_TRUNCATED.continued(125, shown=3, total=5)
        assert reply.startswith(shown), reply
        assert reply[len(shown) :].startswith("125 "), reply
        assert names == ["s0.xml", "s1.xml", "s2.xml"]
        assert control.reply().startswith("226")
        control.close()
