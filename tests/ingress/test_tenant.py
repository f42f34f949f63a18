"""tenant.py: what one certificate sees of the storage, the name rule, and where an upload goes."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_common.identity import CertificateKind, Identity
from gateway_common.storage import StorageLayout
from gateway_ingress.tenant import PERMISSIONS, Area, NameRefused, TenantView, UploadTarget, check_name

EMPLOYEE = Identity(CertificateKind.EMPLOYEE, "OCES2", "52771019", "CVR:30808460-RID:52771019", "E", cvr="30808460")
COLLEAGUE = Identity(CertificateKind.EMPLOYEE, "OCES2", "11112222", "CVR:30808460-RID:11112222", "C", cvr="30808460")
PERSONAL = Identity(CertificateKind.PERSONAL, "OCES2", "9208-2002-2-1", "PID:9208-2002-2-1", "P")
SERVICES = ["heartbeat", "tax-reports"]


@pytest.fixture
def layout(tmp_path: Path) -> StorageLayout:
    layout = StorageLayout(tmp_path)
    layout.ensure()
    return layout


def test_prepare_makes_out_and_the_service_folders_in_the_login_folder(layout: StorageLayout) -> None:
    view = TenantView.prepare(layout, EMPLOYEE, SERVICES)
    assert view.root == layout.tenants_dir / "company" / "30808460"
    assert view.home == "/RID-52771019"
    assert view.services_dir == view.root / "RID-52771019"
    assert sorted(p.name for p in view.root.iterdir()) == ["RID-52771019", "out"]
    assert sorted(p.name for p in view.services_dir.iterdir()) == SERVICES


def test_a_personal_root_is_its_own_login_folder(layout: StorageLayout) -> None:
    view = TenantView.prepare(layout, PERSONAL, SERVICES)
    assert view.root == layout.tenants_dir / "personal" / "9208-2002-2-1"
    assert (view.home, view.services_dir) == ("/", view.root)
    assert view.area(view.root / "heartbeat" / "tx-1") is Area.SERVICE_ENTRY


@pytest.mark.parametrize(
    ("relative", "area"),
    [
        ("", Area.ROOT),
        ("out", Area.OUT),
        ("out/status.xml", Area.OUT_FILE),
        ("out/a/b", Area.HIDDEN),
        ("RID-52771019", Area.LOGIN),
        ("RID-52771019/heartbeat", Area.SERVICE),
        ("RID-52771019/heartbeat/tx-1", Area.SERVICE_ENTRY),
        ("RID-52771019/heartbeat/tx-1/in", Area.TXID_IN),
        ("RID-52771019/heartbeat/tx-1/in/report.xml", Area.TXID_FILE),
        ("RID-52771019/heartbeat/tx-1/in/report.xml/deeper", Area.HIDDEN),
        ("RID-52771019/heartbeat/tx-1/out/report.xml", Area.HIDDEN),
        ("RID-52771019/heartbeat/tx-1/other", Area.HIDDEN),
        ("RID-52771019/not-permitted", Area.HIDDEN),
        ("RID-52771019/.tmp-upload", Area.HIDDEN),
        ("RID-52771019/heartbeat/.tmp-x", Area.HIDDEN),
        ("out/.tmp-status.xml", Area.HIDDEN),
        ("RID-11112222", Area.HIDDEN),  # a colleague's login folder
        ("RID-11112222/heartbeat/tx-1", Area.HIDDEN),
        ("heartbeat", Area.HIDDEN),  # service folders live in the login folder of company certificates
    ],
)
def test_areas_of_an_employee(layout: StorageLayout, relative: str, area: Area) -> None:
    view = TenantView.prepare(layout, EMPLOYEE, SERVICES)
    assert view.area(view.root / relative if relative else view.root) is area


def test_other_tenants_are_hidden(layout: StorageLayout) -> None:
    view = TenantView.prepare(layout, EMPLOYEE, SERVICES)
    other = layout.tenant_root("company/12345678")
    assert view.area(other / "out") is Area.HIDDEN
    assert view.area(layout.tenant_root(PERSONAL.tenant)) is Area.HIDDEN
    assert view.area(layout.data_dir / "spool") is Area.HIDDEN
    assert view.area("/etc/passwd") is Area.HIDDEN
    assert PERMISSIONS[Area.HIDDEN] == ""


def test_colleagues_share_out_but_not_their_login_folders(layout: StorageLayout) -> None:
    mine = TenantView.prepare(layout, EMPLOYEE, SERVICES)
    theirs = TenantView.prepare(layout, COLLEAGUE, SERVICES)
    assert mine.root == theirs.root
    assert theirs.area(mine.root / "out" / "status.xml") is Area.OUT_FILE
    assert theirs.area(mine.services_dir / "heartbeat") is Area.HIDDEN
    names = ["out", "RID-52771019", "RID-11112222", ".tmp-x"]
    assert mine.visible(mine.root, names) == ["out", "RID-52771019"]
    assert theirs.visible(mine.root, names) == ["out", "RID-11112222"]


def test_listings_show_only_permitted_services_and_never_temporary_files(layout: StorageLayout) -> None:
    view = TenantView.prepare(layout, PERSONAL, SERVICES)
    assert view.visible(view.root, ["out", "heartbeat", "secret", ".tmp-1", "tax-reports"]) == [
        "out",
        "heartbeat",
        "tax-reports",
    ]
    assert view.visible(view.root / "out", ["a.xml", ".tmp-a.xml", "~b.xml"]) == ["a.xml", "~b.xml"]
    assert view.visible(view.root / "heartbeat" / "tx" / "in", ["f", ".tmp-f"]) == ["f"]
    assert view.visible(view.root / "heartbeat" / "tx", ["in", "other", ".tmp-in"]) == ["in"]


def test_upload_targets_of_both_upload_modes(layout: StorageLayout) -> None:
    view = TenantView.prepare(layout, EMPLOYEE, SERVICES)
    service = view.services_dir / "tax-reports"
    assert view.upload_target(service / "tx-1") == UploadTarget("tax-reports", "tx-1", "tx-1", None)
    assert view.upload_target(service / "tx-2" / "in" / "løn.xml") == UploadTarget(
        "tax-reports", "tx-2", "løn.xml", service / "tx-2"
    )


@pytest.mark.parametrize(
    "relative",
    ["out/x.xml", "RID-52771019/heartbeat", "RID-52771019/heartbeat/tx/in", "RID-52771019/secret/tx", "x"],
)
def test_uploads_anywhere_else_are_refused(layout: StorageLayout, relative: str) -> None:
    view = TenantView.prepare(layout, EMPLOYEE, SERVICES)
    with pytest.raises(NameRefused, match="upload into a service folder"):
        view.upload_target(view.root / relative)


def test_upload_names_follow_the_name_rule(layout: StorageLayout) -> None:
    view = TenantView.prepare(layout, EMPLOYEE, SERVICES)
    service = view.services_dir / "heartbeat"
    with pytest.raises(NameRefused, match="may not start with a dot"):
        view.upload_target(service / "tx.")
    with pytest.raises(NameRefused, match="may not start with a dot"):
        view.upload_target(service / "tx" / "in" / "file*")


def test_names_that_fit_in_characters_but_not_in_bytes_are_refused(layout: StorageLayout) -> None:
    view = TenantView.prepare(layout, EMPLOYEE, SERVICES)
    name = "ø" * 200  # 200 characters, 400 bytes: no file name on the storage can hold it
    assert check_name(name) == name
    with pytest.raises(NameRefused):
        view.upload_target(view.services_dir / "heartbeat" / name)


@pytest.mark.parametrize(
    "name",
    ["tx-1", "Løn 2026 (rettet).xml", "a", "a+b=c,d@e_f", "x" * 200, "ÆØÅ"],
)
def test_accepted_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "may hold letters"),
        (".hidden", "may not start with a dot"),
        (" lead", "may not start with a dot or space"),
        ("trail ", "end with a dot or space"),
        ("trail.", "end with a dot or space"),
        ("..", "may not start with a dot"),
        ("a/b", "may hold letters"),
        ("a\\b", "may hold letters"),
        ("a\nb", "may hold letters"),
        ("a\x00b", "may hold letters"),
        ("x" * 201, "up to 200 characters"),
        ("e\u0301", "NFC"),  # e and a combining accent: é in NFD
        ("a*b", "may hold letters"),
        ("~response", "may hold letters"),
    ],
)
def test_refused_names_say_why(name: str, why: str) -> None:
    with pytest.raises(NameRefused, match=why.replace("(", r"\(")):
        check_name(name)
