"""The benches' own volume: a journaled ext4 while they run, nothing left mounted afterwards."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.bench.volume import bench_volume


def _mount_of(path: Path) -> tuple[str, str] | None:
    """(device, filesystem type) of the mount at ``path``, if one is there."""
    for line in Path("/proc/mounts").read_text().splitlines():
        device, mount_point, fstype, *_ = line.split()
        if Path(mount_point) == path:
            return device, fstype
    return None


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a loop device needs root")
def test_the_volume_is_a_journaled_ext4_and_goes_away_afterwards() -> None:
    with bench_volume("volume-test-") as (work, described):
        mount_point = work.parent
        mounted = _mount_of(mount_point)
        assert mounted is not None
        device, fstype = mounted
        assert fstype == "ext4"
        features = subprocess.run(["dumpe2fs", "-h", device], capture_output=True, text=True, check=True).stdout
        assert "has_journal" in features
        assert device in described
        (work / "file").write_bytes(b"x")
        assert list(work.iterdir()) == [work / "file"]
    assert _mount_of(mount_point) is None
    assert device not in subprocess.run(["losetup", "--list"], capture_output=True, text=True, check=True).stdout
