"""Random paths at the virtual filesystem: no crash, no escape from the tenant root, no hidden area."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from types import SimpleNamespace

import pytest
from gateway_common.identity import CertificateKind, Identity
from gateway_common.storage import StorageLayout
from gateway_ingress.filesystem import GatewayFS, SessionAuthorizer
from gateway_ingress.tenant import PERMISSIONS, Area, NameRefused, TenantView, check_name
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyftpdlib.filesystems import AbstractedFS

EMPLOYEE = Identity(CertificateKind.EMPLOYEE, "OCES2", "52771019", "CVR:30808460-RID:52771019", "E", cvr="30808460")
PERSONAL = Identity(CertificateKind.PERSONAL, "OCES2", "9208-2002-2-1", "PID:9208-2002-2-1", "P")

segments = st.one_of(
    st.sampled_from(["", ".", "..", "...", "out", "in", "RID-52771019", "RID-1", "heartbeat", "secret", ".tmp-x", "~"]),
    st.text(min_size=1, max_size=12),
)
ftp_paths = st.builds(
    lambda absolute, parts: ("/" if absolute else "") + "/".join(parts),
    st.booleans(),
    st.lists(segments, max_size=7),
)


@pytest.fixture(scope="module", params=[EMPLOYEE, PERSONAL], ids=["employee", "personal"])
def fs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> GatewayFS:
    layout = StorageLayout(tmp_path_factory.mktemp("data"))
    layout.ensure()
    view = TenantView.prepare(layout, request.param, ["heartbeat", "tax-reports"])
    (view.root / "out" / "status.xml").write_text("<s/>")
    # Traps: another tenant next door, and a symlink in /out pointing out of the root.
    other = layout.tenant_root("company/12345678") / "out"
    other.mkdir(parents=True)
    (other / "theirs.xml").write_text("<s/>")
    os.symlink(other, view.root / "out" / "link")
    filesystem = GatewayFS(str(view.root), SimpleNamespace(view=view))
    filesystem.cwd = view.home
    return filesystem


def _inside(root: str, path: str) -> bool:
    return os.path.commonpath([os.path.realpath(root), os.path.realpath(path)]) == os.path.realpath(root)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=ftp_paths)
def test_no_path_escapes_the_tenant_root(fs: GatewayFS, path: str) -> None:
    view: TenantView = fs.view
    real = fs.ftp2fs(path)
    area = view.area(real)
    if not fs.validpath(real):
        return
    assert _inside(fs.root, real), (path, real)
    assert area is not Area.HIDDEN
    parts = PurePosixPath(real).relative_to(view.root).parts
    assert not any(part in (".", "..") or part.startswith(".tmp-") for part in parts)
    if area is Area.TXID_FILE:
        assert parts[-2] == "in", parts
    authorizer = SessionAuthorizer(view)
    for perm in "elrwmd":
        assert authorizer.has_perm("x", perm, real) == (perm in PERMISSIONS[area])
    try:
        target = view.upload_target(real)
    except NameRefused:
        return
    assert target.service in view.services
    assert "/" not in target.ftp_txid
    assert "/" not in target.file_name


def test_symlinks_out_of_the_root_are_refused(fs: GatewayFS) -> None:
    assert not fs.validpath(fs.ftp2fs("/out/link"))
    assert not fs.validpath(fs.ftp2fs("/out/link/theirs.xml"))


@settings(max_examples=400, deadline=None)
@given(name=st.text(max_size=210))
def test_names_are_accepted_only_when_harmless(name: str) -> None:
    try:
        accepted = check_name(name)
    except NameRefused:
        return
    assert accepted == name
    assert "/" not in name
    assert "\x00" not in name
    assert name not in (".", "..")
    assert not name.startswith((".", " "))
    assert len(name) <= 200
    assert Path(name).name == name


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=ftp_paths)
def test_the_quick_root_check_answers_as_pyftpdlib_does(fs: GatewayFS, path: str) -> None:
    # GatewayFS skips pyftpdlib's full resolution where no symlink or '..' lies below the root;
    # the answer must be pyftpdlib's for every path, with the symlinks of the fixture in the way.
    for real in (fs.ftp2fs(path), fs.root + "/" + path.lstrip("/"), path):
        if "\x00" not in real:
            assert fs._below_root(real) == AbstractedFS.validpath(fs, real), real


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=ftp_paths)
def test_areas_split_paths_as_pathlib_does(fs: GatewayFS, path: str) -> None:
    view: TenantView = fs.view
    for real in (fs.ftp2fs(path), str(view.root) + "/" + path, str(view.root) + path, path):
        try:
            expected: tuple[str, ...] | None = PurePosixPath(real).relative_to(view.root).parts
        except ValueError:
            expected = None
        assert view._parts(real) == expected, real
