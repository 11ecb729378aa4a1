"""The host side of one container's mounts, in a folder whose path says nothing about us.

A bind mount shows its source path in the container's `/proc/self/mountinfo`, so a module
would read the user's folders, the module's name and sandbench's pid from there. Each
container instead gets `TMP/sandbench-run/<16 random hex>/` (mode 0700): `module/` is a
copy of the module's tree (hard links where the file system allows, so nothing is copied
twice), `host/` is the host API's socket folder; only these two are mounted. The owner
(pid and process start time) is written beside them in `owner`, which is never mounted:
a later run sweeps the folders of owners that are gone.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import psutil

from sandbench._tree import remove_tree
from sandbench.errors import SandboxError

__all__ = ["RunFolder", "run_root", "sweep_run_folders"]

_ROOT = "sandbench-run"


def run_root() -> Path:
    """The neutral root: `sandbench-run` in the temp folder."""
    return Path(tempfile.gettempdir()) / _ROOT


def _owner(pid: int) -> str:
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        started = 0.0
    return f"{pid} {started:.2f}"


class RunFolder:
    """A fresh per-container folder under `run_root()`; `remove()` takes it away (twice is
    harmless). Raises `SandboxError` when the root is not a folder of this user's, and
    `OSError` when the folder cannot be made."""

    def __init__(self) -> None:
        self.path = self._make()
        try:
            (self.path / "owner").write_text(_owner(os.getpid()))
        except BaseException:
            self.remove()
            raise

    @staticmethod
    def _make() -> Path:
        root = run_root()
        for _ in range(5):  # another run may remove the empty root between our two mkdirs
            with contextlib.suppress(FileExistsError):
                root.mkdir(mode=0o700)
            _check_root(root)
            path = root / secrets.token_hex(8)
            try:
                path.mkdir(mode=0o700)
            except FileNotFoundError:
                continue
            return path
        raise OSError(f"cannot make a folder in {root}")

    def module_copy(self, source: Path) -> Path:
        """`source`'s tree as `module/` (links kept as links); raises `OSError`."""
        target = self.path / "module"
        shutil.copytree(source, target, symlinks=True, copy_function=_link_or_copy)
        return target

    def folder(self, name: str) -> Path:
        """A new sub-folder `name` (mode 0700)."""
        path = self.path / name
        path.mkdir(mode=0o700)
        return path

    def remove(self) -> None:
        """Remove the folder, and the root when nothing else is in it."""
        remove_tree(self.path)
        with contextlib.suppress(OSError):
            self.path.parent.rmdir()


def _check_root(root: Path) -> None:
    info = root.lstat()
    if not root.is_dir() or root.is_symlink() or info.st_uid != os.geteuid():
        raise SandboxError(
            f"{root} is not a folder of this user's; remove it (or set TMPDIR elsewhere)"
        )


def _link_or_copy(source: str, target: str) -> object:
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:
        return shutil.copy2(source, target, follow_symlinks=False)
    return target


def sweep_run_folders() -> int:
    """Remove run folders whose owner process is gone; return how many.

    A folder whose owner still runs (same pid and start time) is kept; one without a
    readable owner file is left alone (it may be being made right now).
    """
    root = run_root()
    removed = 0
    if not root.is_dir() or root.is_symlink():
        return 0
    for folder in root.iterdir():
        try:
            owner = (folder / "owner").read_text()
        except OSError:
            continue
        pid = owner.partition(" ")[0]
        if pid.isdigit() and _owner(int(pid)) != owner:
            remove_tree(folder)
            removed += 1
    with contextlib.suppress(OSError):
        root.rmdir()
    return removed
