"""The benches' working volume: a fresh ext4 with a journal of its own, as a file server's would be.

Every peer keeps its files there (uploads, spool, status files, logs). Where the machine's own
/tmp sits on an ext4 without a journal (this development VM's root disk), the kernel makes every
new file skip the inodes deleted in its block group during the last ``dirty_expire_centisecs``
(read as seconds: 50 minutes by default; ``recently_deleted`` in fs/ext4/ialloc.c, done only
without a journal). After an hour of tests, creating one file in /tmp cost 935 us here against
28 us on the journaled volume, and that cost rose from run to run with whatever had been deleted
before: it measured the machine's history, and each peer in proportion to the files it creates.

Mounting needs root, ``mkfs.ext4`` and a loop device; without them the benches fall back to a
temporary directory; either way ``bench_volume`` prints what it uses and yields that text for
the JSON.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

SIZE = "8G"  # sparse: the 512 MiB workload's uploads, spool and peers' copies fit


def _mountable() -> bool:
    return os.geteuid() == 0 and shutil.which("mkfs.ext4") is not None and Path("/dev/loop-control").exists()


def _announced(volume: str) -> str:
    print(f"working on {volume}", flush=True)
    return volume


@contextlib.contextmanager
def bench_volume(prefix: str) -> Iterator[tuple[Path, str]]:
    """(a new empty directory, what it is on) for the duration of a bench."""
    if not _mountable():
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            yield Path(tmp), _announced(f"temporary directory {tmp} (not root or no loop device: no volume of its own)")
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        image, mount = Path(tmp) / "volume.img", Path(tmp) / "volume"
        mount.mkdir()
        subprocess.run(["truncate", "-s", SIZE, str(image)], check=True)
        # Direct I/O from the loop device to its image: the image's writes are not copied into
        # the page cache a second time (by a kernel thread whose CPU no peer's figures would show).
        device = subprocess.run(
            ["losetup", "--find", "--show", "--direct-io=on", "--sector-size", "4096", str(image)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        try:
            subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0", device], check=True)
            subprocess.run(["mount", device, str(mount)], check=True)
            try:
                work = mount / "work"
                work.mkdir()
                work.chmod(0o755)
                yield work, _announced(f"ext4 with journal on {device} ({SIZE} image, direct I/O)")
            finally:
                # Lazy: a server process slow to exit must not keep the volume; detaching then
                # frees the device once the last file on it is closed.
                subprocess.run(["umount", "--lazy", str(mount)], check=False)
        finally:
            subprocess.run(["losetup", "--detach", device], check=False)
