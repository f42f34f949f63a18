"""filesystem.py: pyftpdlib's filesystem and authorizer narrowed to one certificate's view.

tests/ingress/test_fuzz_filesystem.py throws random paths at it; these are the cases by name.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from gateway_common.identity import CertificateKind, Identity
from gateway_common.storage import StorageLayout
from gateway_ingress.filesystem import GatewayFS, NoLoginAuthorizer, SessionAuthorizer
from gateway_ingress.settings import IngressSettings
from gateway_ingress.tenant import TenantView
from pyftpdlib.authorizers import AuthenticationFailed

EMPLOYEE = Identity(CertificateKind.EMPLOYEE, "OCES2", "52771019", "CVR:30808460-RID:52771019", "E", cvr="30808460")


@pytest.fixture
def view(tmp_path: Path) -> TenantView:
    layout = StorageLayout(tmp_path)
    layout.ensure()
    return TenantView.prepare(layout, EMPLOYEE, ["heartbeat", "tax-reports"])


def _fs(view: TenantView, max_list_entries: int = 10000) -> GatewayFS:
    # The control channel as GatewayFS reads it: the session's view and the server's settings.
    channel = SimpleNamespace(view=view, settings=IngressSettings(max_list_entries=max_list_entries))
    fs = GatewayFS(str(view.root), channel)
    fs.cwd = view.home
    return fs


def test_paths_outside_the_view_are_invalid(view: TenantView, tmp_path: Path) -> None:
    fs = _fs(view)
    (view.root / "RID-99999999").mkdir()
    assert fs.validpath(fs.ftp2fs("/RID-52771019/heartbeat"))
    assert fs.validpath(fs.ftp2fs("/out"))
    assert not fs.validpath(fs.ftp2fs("/RID-99999999"))  # a colleague's folder
    assert not fs.validpath(fs.ftp2fs("/RID-52771019/secret"))
    assert not fs.validpath(str(tmp_path / "spool"))
    assert not fs.validpath(fs.ftp2fs("/out/a\x00b"))


def test_a_symlink_out_of_the_tenant_is_invalid(view: TenantView, tmp_path: Path) -> None:
    other = tmp_path / "tenants" / "company" / "12345678" / "out"
    other.mkdir(parents=True)
    os.symlink(other, view.root / "out" / "theirs")
    fs = _fs(view)
    assert not fs.validpath(fs.ftp2fs("/out/theirs"))


def test_listings_hide_what_is_not_visible_and_are_sorted(view: TenantView) -> None:
    (view.root / "RID-99999999").mkdir()
    (view.root / ".tmp-x").mkdir()
    for name in ["b.xml", "a.xml", ".tmp-c.xml"]:
        (view.root / "out" / name).write_text("<s/>")
    fs = _fs(view)
    assert fs.listdir(str(view.root)) == ["RID-52771019", "out"]
    assert fs.listdir(str(view.root / "out")) == ["a.xml", "b.xml"]
    assert fs.listdirinfo(str(view.root / "out")) == ["a.xml", "b.xml"]
    assert fs.take_truncation() is None


def test_a_long_listing_is_cut_to_the_first_names_and_says_so_once(view: TenantView) -> None:
    for n in range(5):
        (view.root / "out" / f"{n}.xml").write_text("<s/>")
    fs = _fs(view, max_list_entries=3)
    assert fs.listdir(str(view.root / "out")) == ["0.xml", "1.xml", "2.xml"]
    assert fs.take_truncation() == (3, 5)
    assert fs.take_truncation() is None
    fs.listdir(str(view.root))
    assert fs.take_truncation() is None  # a later short listing is not reported as cut


@pytest.mark.parametrize(
    ("relative", "granted"),
    [
        ("", "el"),
        ("out", "el"),
        ("out/s.xml", "lrd"),
        ("RID-52771019/heartbeat", "el"),
        ("RID-52771019/heartbeat/tx", "elwmd"),
        ("RID-52771019/heartbeat/tx/in", "elmd"),
        ("RID-52771019/heartbeat/tx/in/f", "lw"),
        ("RID-52771019/secret/tx", ""),
        ("RID-99999999/heartbeat/tx", ""),
    ],
)
def test_permissions_follow_the_area(view: TenantView, relative: str, granted: str) -> None:
    authorizer = SessionAuthorizer(view)
    path = str(view.root / relative) if relative else str(view.root)
    assert "".join(p for p in "elrwmd" if authorizer.has_perm("anyone", p, path)) == granted
    assert not authorizer.has_perm("anyone", "e", None)


def test_before_login_nothing_is_permitted_and_passwords_open_nothing(view: TenantView) -> None:
    authorizer = NoLoginAuthorizer()
    assert not any(authorizer.has_perm("anonymous", p, str(view.root / "out")) for p in "elrwmdT")
    with pytest.raises(AuthenticationFailed, match="client certificate"):
        authorizer.validate_authentication("anonymous", "guest", None)
