"""CPU time and memory of a server's whole process tree, read from /proc.

A server's CPU is the sum of user and system time over every live process of its tree plus
what its reaped children used (cutime/cstime): vsftpd forks one or two processes per session,
and they are gone by the time a workload ends. Each CPU second is counted once: a child's time
moves into its parent's cutime only when the parent reaps it.
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return text[text.rindex(")") + 2 :].split()


def tree(roots: list[int]) -> list[int]:
    """``roots`` and all their live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    seen: list[int] = []
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.append(pid)
            todo.extend(children.get(pid, []))
    return seen


def brokers() -> list[int]:
    """RabbitMQ's Erlang VMs on this machine (their CPU includes every other user of the broker)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if (
                entry.isdigit()
                and Path(f"/proc/{entry}/comm").read_text().strip() == "beam.smp"
                and b"rabbit" in Path(f"/proc/{entry}/cmdline").read_bytes()
            ):
                found.append(int(entry))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def cpu_seconds(roots: list[int]) -> float:
    total = 0
    for pid in tree(roots):
        fields = _stat_fields(pid)
        if fields is not None:
            # utime, stime, cutime, cstime: fields 14-17 of proc(5), 12-15 after the name.
            total += sum(int(value) for value in fields[11:15])
    return total / TICKS


def pss_bytes(roots: list[int]) -> int:
    """Proportional set size of the tree: shared pages split fairly, so forked sessions add up."""
    total = 0
    for pid in tree(roots):
        try:
            lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in lines:
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
    return total
