"""Rules of the codebase that a reader relies on and no linter checks."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
CLASS = re.compile(r"^class (\w+)\b", re.M)


def test_class_names_are_unique_across_packages() -> None:
    # Two classes of one name (a login result and a delivery result were both `Accepted`) make
    # every import and log line ambiguous to the next reader.
    where: dict[str, list[str]] = defaultdict(list)
    for path in SERVICES.rglob("*.py"):
        if "proto" in path.parts:
            continue
        for name in CLASS.findall(path.read_text()):
            where[name].append(str(path.relative_to(SERVICES)))
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}
