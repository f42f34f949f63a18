from __future__ import annotations

from pathlib import Path

import pytest
from gateway_common.storage import TMP_PREFIX, StorageLayout, atomic_write


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


def test_spool_path_round_trip(tmp_path: Path) -> None:
    layout = StorageLayout(tmp_path)
    payload = layout.spool_dir / "abc" / "payload"
    assert layout.spool_path(layout.relative(payload)) == payload
