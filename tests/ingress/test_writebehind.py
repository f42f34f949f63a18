from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from gateway_ingress import writebehind
from gateway_ingress.writebehind import WriteBehind

WINDOW = 1 << 20
CHUNK = os.urandom(256 << 10)


def _resident_bytes(path: Path) -> int:
    # util-linux's fincore asks the kernel (mincore) which pages of the file are in the page cache.
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def _write(path: Path, windows: int, watcher: Callable[[int], Callable[[int], None]]) -> None:
    """Write ``windows`` windows in chunks; ``watcher(fd)`` is told the total after each write."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        written = watcher(fd)
        total = 0
        for _ in range(windows * WINDOW // len(CHUNK)):
            total += os.write(fd, CHUNK)
            written(total)
    finally:
        os.close(fd)


def test_plain_writes_leave_the_whole_file_in_the_page_cache(tmp_path: Path) -> None:
    # The control: without write-behind the measurement below would see every page.
    path = tmp_path / "plain"
    _write(path, 8, lambda fd: lambda total: None)
    assert _resident_bytes(path) == 8 * WINDOW


def test_at_most_two_windows_stay_in_the_page_cache(tmp_path: Path) -> None:
    path = tmp_path / "behind"
    resident: list[int] = []

    def watcher(fd: int) -> Callable[[int], None]:
        behind = WriteBehind(fd, WINDOW)

        def written(total: int) -> None:
            behind.written(total)
            resident.append(_resident_bytes(path))

        return written

    _write(path, 8, watcher)
    assert max(resident) <= 2 * WINDOW
    assert path.read_bytes() == CHUNK * (8 * WINDOW // len(CHUNK))


def test_without_sync_file_range_the_hint_alone_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Where the C library lacks sync_file_range, posix_fadvise alone still bounds what it can
    # (pages already written back); the file stays whole.
    monkeypatch.setattr(writebehind, "_sync_file_range", None)
    path = tmp_path / "hint"
    _write(path, 4, lambda fd: WriteBehind(fd, WINDOW).written)
    assert path.read_bytes() == CHUNK * (4 * WINDOW // len(CHUNK))


def test_a_failing_sync_file_range_raises_oserror() -> None:
    # The spool writer turns an OSError into a 452; a bad descriptor must surface as one.
    assert writebehind._sync_file_range is not None
    with pytest.raises(OSError, match=os.strerror(errno.EBADF)) as caught:
        writebehind._sync_file_range(-1, 0, WINDOW, 2)
    assert caught.value.errno == errno.EBADF
