"""The module's files as the scanners see them: regular files only, inside the root, bounded.

Symbolic links are never followed (a link to `/etc/passwd` or `/dev/zero` is not the
module's code), folders that are environments or caches are not entered, and reads are
capped so that no file can make a scanner hold more than `max_bytes` of it.
"""

from __future__ import annotations

import stat
from pathlib import Path

from sandbench._tree import walk

__all__ = ["MAX_FILES", "module_files", "read_capped"]

MAX_FILES = 20_000
SKIP_DIRS = frozenset({".git", ".venv", "venv", "__pycache__", "node_modules", ".tox"})


def module_files(root: Path) -> list[Path]:
    """Every regular file under `root`, sorted, without links or skipped folders.

    Stops at `MAX_FILES` (the module loader refuses larger trees anyway).
    """
    found: list[Path] = []
    for dirpath, dirnames, filenames in walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        here = Path(dirpath)
        for name in filenames:
            path = here / name
            if stat.S_ISREG(path.lstat().st_mode):
                found.append(path)
            if len(found) >= MAX_FILES:
                return sorted(found)
    return sorted(found)


def read_capped(path: Path, max_bytes: int) -> bytes:
    """The file's bytes. Raises `ValueError` when it is larger than `max_bytes` or not a
    regular file (a link, a device), and `OSError` when it cannot be read."""
    if not stat.S_ISREG(path.lstat().st_mode):
        raise ValueError(f"{path.name} is not a regular file")
    with path.open("rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{path.name} is larger than {max_bytes} bytes")
    return data
