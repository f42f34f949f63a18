from __future__ import annotations

import os
from pathlib import Path

import pytest
from gateway_common.storage import TMP_PREFIX, StorageLayout, atomic_write
from hypothesis import given, settings
from hypothesis import strategies as st


def test_atomic_write_replaces_whole_files_and_leaves_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "status.xml"
    atomic_write(target, b"first")
    atomic_write(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["status.xml"]
    assert not any(p.name.startswith(TMP_PREFIX) for p in tmp_path.iterdir())


@pytest.mark.parametrize(
    "tenant", ["company/../../etc", "company/30808460/../x", "personal/", "other/1", "company/.x", "/abs"]
)
def test_tenant_keys_cannot_point_outside_the_tenants(tmp_path: Path, tenant: str) -> None:
    with pytest.raises(ValueError, match="tenant"):
        StorageLayout(tmp_path).tenant_root(tenant)


def test_tenant_roots(tmp_path: Path) -> None:
    layout = StorageLayout(tmp_path)
    assert layout.out_dir("company/30808460") == tmp_path.resolve() / "tenants/company/30808460/out"
    assert layout.tenant_root("personal/9208-2002-2-175183276275").name == "9208-2002-2-175183276275"


@pytest.mark.parametrize("relative", ["spool/../outbox/x.pb", "/etc/passwd", "ledger/x.pb", "../x"])
def test_spool_paths_from_messages_stay_in_the_spool(tmp_path: Path, relative: str) -> None:
    with pytest.raises(ValueError, match="escapes"):
        StorageLayout(tmp_path).spool_path(relative)


def test_a_spool_path_with_a_nul_byte_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NUL"):
        StorageLayout(tmp_path).spool_path("spool/abc/x\x00y")


def test_spool_path_round_trip(tmp_path: Path) -> None:
    layout = StorageLayout(tmp_path)
    payload = layout.spool_dir / "abc" / "payload"
    assert layout.spool_path(layout.relative(payload)) == payload


def _resolved_in_the_spool(layout: StorageLayout, relative: str) -> Path | None:
    """spool_path as it was before plainly_below: resolve in full, then look."""
    path = (layout.data_dir / relative).resolve()
    return path if path.is_relative_to(layout.spool_dir) else None


@pytest.fixture(scope="module")
def linked_layout(tmp_path_factory: pytest.TempPathFactory) -> StorageLayout:
    layout = StorageLayout(tmp_path_factory.mktemp("data"))
    (layout.spool_dir / "abc" / "tx").mkdir(parents=True)
    (layout.spool_dir / "abc" / "tx" / "payload").write_text("x")
    layout.outbox_dir.mkdir()
    # Traps: a symlink in the spool out of it, one within it, and a file where a folder could be.
    os.symlink(layout.outbox_dir, layout.spool_dir / "out-link")
    os.symlink(layout.spool_dir / "abc", layout.spool_dir / "in-link")
    return layout


@settings(max_examples=500, deadline=None)
@given(
    parts=st.lists(
        st.sampled_from(["spool", "abc", "tx", "payload", "out-link", "in-link", "..", ".", "", "outbox", "x"]),
        max_size=6,
    ),
    absolute=st.booleans(),
)
def test_spool_paths_resolve_as_a_full_resolution_does(
    linked_layout: StorageLayout, parts: list[str], absolute: bool
) -> None:
    relative = ("/" if absolute else "") + "/".join(parts)
    expected = _resolved_in_the_spool(linked_layout, relative)
    if expected is None:
        with pytest.raises(ValueError, match="escapes"):
            linked_layout.spool_path(relative)
    else:
        assert linked_layout.spool_path(relative) == expected
