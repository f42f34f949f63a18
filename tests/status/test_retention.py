"""The retention sweep removes only old files directly in each tenant's /out."""

from __future__ import annotations

import os
import time
from pathlib import Path

from gateway_common.storage import StorageLayout
from gateway_status.retention import sweep

DAY = 86400.0


def _file(path: Path, age_days: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    when = time.time() - age_days * DAY
    os.utime(path, (when, when))
    return path


def test_sweep_removes_old_out_files_only(tmp_path: Path) -> None:
    layout = StorageLayout(tmp_path)
    layout.ensure()
    company = layout.out_dir("company/30808460")
    personal = layout.out_dir("personal/9208-2002-2-123456789012")
    old_status = _file(company / "status_heartbeat_a.xml", 31)
    old_response = _file(personal / "response.xml", 45)
    fresh = _file(company / "status_heartbeat_b.xml", 29)
    nested = _file(company / "folder" / "old.xml", 60)
    login_folder = _file(layout.tenant_root("company/30808460") / "RID-1" / "heartbeat" / "old", 60)
    spool = _file(layout.spool_dir / "abc" / "payload", 60)
    outside = _file(tmp_path / "elsewhere" / "target.xml", 60)
    (company / "link.xml").symlink_to(outside)

    assert sweep(layout, 30 * DAY) == 2
    assert not old_status.exists()
    assert not old_response.exists()
    for kept in (fresh, nested, login_folder, spool, outside, company / "link.xml"):
        assert kept.exists() or kept.is_symlink(), kept
