"""Walking folders the gateway changes while a test looks at them."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path


def entries_below(root: Path, pattern: str = "*", *, folders: bool = True) -> list[Path]:
    """Files (and folders, unless ``folders`` is False) below ``root`` whose names match ``pattern``.

    A folder the gateway removes during the walk is skipped: Python 3.11's ``Path.rglob`` raises
    FileNotFoundError from its scandir then (CI met it twice), ``os.walk`` ignores the error.
    """
    found = []
    for directory, subfolders, names in os.walk(root):
        for name in [*subfolders, *names] if folders else names:
            if fnmatch.fnmatchcase(name, pattern):
                found.append(Path(directory) / name)
    return found


def files_below(root: Path, pattern: str = "*") -> list[Path]:
    """Files below ``root`` whose names match ``pattern``, as ``entries_below`` walks them."""
    return entries_below(root, pattern, folders=False)
