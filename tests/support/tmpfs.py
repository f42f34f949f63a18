"""Small tmpfs mounts for full-disk tests (mounting needs root; elsewhere the test is skipped)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_tmpfs(folder: Path, size: int, owner: tuple[int, int] | None = None) -> Iterator[Path]:
    """Mount a ``size``-byte tmpfs on ``folder`` (owned by ``owner`` uid, gid) for the ``with`` block."""
    options = f"size={size}" + (f",uid={owner[0]},gid={owner[1]}" if owner else "")
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=False, capture_output=True, text=True
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs on {folder} (needs root): {mount.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)
