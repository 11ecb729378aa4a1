"""Temporary folders that name their owner, and the sweep of those whose owner is gone.

A sandbench process removes its temporary folders on the way out, SIGINT and SIGTERM
included; SIGKILL (or a crash of the interpreter) leaves them. So each folder's name says
which process made it: `sandbench-<kind>-<pid>-<start>-<random>`, where `<start>` is the
process's start time in hundredths of a second since the epoch (a reused pid has another).
`sweep_scratch` removes the folders of this user whose owner no longer runs; a folder whose
owner is alive, whose name does not parse, that is a link, or that another user owns is
never touched.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path

import psutil

from sandbench._tree import remove_tree
from sandbench.interrupts import on_exit

__all__ = ["KINDS", "owner_tag", "remove_own", "scratch_dir", "sweep_scratch"]

KINDS = ("storage", "budgets")
_NAME = re.compile(r"sandbench-(?P<kind>[a-z]+)-(?P<pid>\d+)-(?P<start>\d+)-[^/]+")


def _start_of(pid: int) -> int | None:
    """The process's start time in hundredths of a second, or None when it does not run."""
    try:
        return round(psutil.Process(pid).create_time() * 100)
    except psutil.Error:
        return None


def owner_tag(pid: int | None = None) -> str:
    """`<pid>-<start>` of this process (or `pid`), as folder names carry it."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}-{_start_of(pid) or 0}"


def scratch_dir(kind: str) -> Path:
    """A new private (0700) temporary folder of `kind` (one of `KINDS`) owned by this process."""
    on_exit(remove_own)  # an interrupted CLI run removes what a signal kept from its `with`
    return Path(tempfile.mkdtemp(prefix=f"sandbench-{kind}-{owner_tag()}-"))


def _owner_alive(pid: int, start: int) -> bool:
    now = _start_of(pid)
    # psutil's start time is rounded from clock ticks: allow a tick either way.
    return now is not None and abs(now - start) <= 1


def sweep_scratch(folder: Path | None = None) -> list[Path]:
    """Remove this user's `KINDS` folders in `folder` (the temp folder) whose owner process
    is gone; return them. Errors on one folder (it vanished, a permission) skip it."""
    removed = []
    for path in Path(folder or tempfile.gettempdir()).glob("sandbench-*-*-*-*"):
        match = _NAME.fullmatch(path.name)
        if match is None or match["kind"] not in KINDS:
            continue
        try:
            info = path.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        if _owner_alive(int(match["pid"]), int(match["start"])):
            continue
        remove_tree(path)
        removed.append(path)
    return removed


def remove_own() -> list[Path]:
    """Remove this process's own `KINDS` folders in the temp folder (for an exit path where
    nothing may still use them); return them."""
    removed = []
    for kind in KINDS:
        for path in Path(tempfile.gettempdir()).glob(f"sandbench-{kind}-{owner_tag()}-*"):
            if path.is_dir() and not path.is_symlink():
                remove_tree(path)
                removed.append(path)
    return removed
