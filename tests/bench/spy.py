"""py-spy (from PyPI, in the dev group) sampling the gateway's services while a bench workload runs."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.gateway import BIN


@contextmanager
def recording(pids: dict[str, int], directory: Path) -> Iterator[dict[str, Path]]:
    """Sample each named process at 200 Hz into ``directory/<name>.txt`` (collapsed stacks).

    Only threads holding the GIL are sampled (``--gil``): that is where Python spends CPU. Without
    it, threads waiting in fsync or a socket write count as busy, and the profile shows the disk.
    """
    outputs = {name: directory / f"{name}.txt" for name in pids}
    spies = [
        subprocess.Popen(
            [
                str(BIN / "py-spy"),
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--rate",
                "200",
                "--output",
                str(outputs[name]),
                "--nonblocking",
                "--gil",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    ]
    if spies:
        time.sleep(1)  # py-spy attaches
    try:
        yield outputs
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled, then exits
        for spy in spies:
            spy.wait(60)


def top_functions(raw: Path, limit: int = 10) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """Collapsed stacks -> (functions by own time, functions by inclusive time), as shares of samples.

    Samples in the event loop's select or a lock wait are left out: they are idle time.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines() if raw.exists() else []:
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if "select (selectors.py" in frames[-1] or "wait (threading.py" in frames[-1]:
            continue
        own[frames[-1]] += int(count)
        for frame in set(frames[1:]):
            inclusive[frame] += int(count)
        total += int(count)
    if not total:
        return [], []
    return (
        [(n / total, frame) for frame, n in own.most_common(limit)],
        [(n / total, frame) for frame, n in inclusive.most_common(limit)],
    )


def print_profile(outputs: dict[str, Path]) -> None:
    for name, raw in outputs.items():
        own, inclusive = top_functions(raw)
        print(f"\n{name}: own time (py-spy, idle excluded)")
        for share, frame in own:
            print(f"  {share:6.1%}  {frame}")
        print(f"{name}: inclusive time")
        for share, frame in inclusive:
            print(f"  {share:6.1%}  {frame}")
