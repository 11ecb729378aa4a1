"""Walking and removing folder trees at any depth, without recursion.

A module's files, an archive's contents and what a module writes into its storage are
untrusted: a chain of 2,000 nested folders fits in one 4 KiB path. Python 3.11's
`os.walk` and `shutil.rmtree` recurse once per level and raise `RecursionError` past
about 1,000 levels, which turned such a tree into an internal error and left the
temporary folder behind. These keep their own stack instead.

- `walk` is `os.walk(top, followlinks=False)` (top-down; the caller may prune
  `dirnames` in place), with `onerror` called for a folder that cannot be listed.
- `visit` calls back for every entry under a folder through open folder descriptors,
  one at a time, so a tree deeper than PATH_MAX (which a module can make in its storage,
  and `os.walk` silently skips) is seen whole.
- `remove_tree` is `shutil.rmtree(path, ignore_errors=True)` over `visit`: it never
  follows a symbolic link, so a link swapped in by a running module cannot make it
  delete anything outside `path`.

`MAX_DEPTH` is how deep a module's own folders may nest (archive intake and module
loading refuse more): far beyond any real package, and well inside the recursion limit of
the tools that read the tree after us (bandit, GuardDog, `shutil.copytree`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator

__all__ = ["MAX_DEPTH", "remove_tree", "visit", "walk"]

MAX_DEPTH = 100
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def walk(
    top: str | os.PathLike[str], onerror: Callable[[OSError], object] | None = None
) -> Iterator[tuple[str, list[str], list[str]]]:
    """Yield (folder, subfolder names, other names) for `top` and every folder under it,
    parents before children, links never followed (a link to a folder is in the first
    list, as in `os.walk`, but not entered). Pruning the yielded subfolder list skips them.
    """
    stack = [os.fspath(top)]
    while stack:
        folder = stack.pop()
        dirnames: list[str] = []
        filenames: list[str] = []
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        is_dir = entry.is_dir()
                    except OSError:
                        is_dir = False
                    (dirnames if is_dir else filenames).append(entry.name)
        except OSError as exc:
            if onerror is not None:
                onerror(exc)
            continue
        yield folder, dirnames, filenames
        # Reversed so that the first subfolder is walked first, as os.walk does.
        for name in reversed(dirnames):
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                stack.append(path)


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Remove `path` and everything under it, whatever its depth; errors are ignored (a
    part that cannot be removed stays, as with `rmtree(ignore_errors=True)`)."""
    path = os.fspath(path)
    try:
        info = os.lstat(path)
    except OSError:
        return
    if stat.S_ISDIR(info.st_mode):
        with contextlib.suppress(OSError):
            visit(path, _unlink_file, _remove_folder)
    with contextlib.suppress(OSError):
        if stat.S_ISDIR(info.st_mode):
            os.rmdir(path)
        else:
            os.unlink(path)


def _unlink_file(folder: int, name: str, info: os.stat_result) -> None:
    if not stat.S_ISDIR(info.st_mode):
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=folder)


def _remove_folder(folder: int, name: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(name, dir_fd=folder)


def visit(
    top: str | os.PathLike[str],
    entry: Callable[[int, str, os.stat_result], None],
    left: Callable[[int, str], None] | None = None,
) -> None:
    """Call `entry(folder_fd, name, lstat)` for every entry under the folder `top` (a
    folder's before its contents), and `left(folder_fd, name)` once a subfolder's contents
    were all visited; links are never followed.

    Whatever the depth, one folder descriptor is open at a time and no path longer than
    one name is used: a tree deeper than PATH_MAX (a module can make one in its storage)
    is visited whole. Going back up is through `..`, checked against the folder left;
    if the tree was moved meanwhile, `OSError` is raised rather than visiting elsewhere.
    Raises `OSError` when `top` cannot be opened; a subfolder that cannot be is skipped.
    """
    here = os.open(top, _DIR_FLAGS)
    try:
        mark = os.fstat(here)
        stack = [("", mark.st_dev, mark.st_ino, _listed(here, entry))]
        while stack:
            name, _dev, _ino, pending = stack[-1]
            if pending:
                sub = pending.pop()
                with contextlib.suppress(OSError):
                    here = _enter(here, sub, stack, entry)
                continue
            stack.pop()
            if stack:
                here = _leave(here, stack[-1][1:3])
                if left is not None:
                    left(here, name)
    finally:
        os.close(here)


def _enter(
    here: int,
    sub: str,
    stack: list[tuple[str, int, int, list[str]]],
    entry: Callable[[int, str, os.stat_result], None],
) -> int:
    """Open the subfolder `sub` of `here`, list it, push it and close `here`; the new
    descriptor. On an error nothing changed and `here` is still open."""
    inner = os.open(sub, _DIR_FLAGS, dir_fd=here)
    try:
        mark = os.fstat(inner)
        pending = _listed(inner, entry)
    except BaseException:
        os.close(inner)
        raise
    os.close(here)
    stack.append((sub, mark.st_dev, mark.st_ino, pending))
    return inner


def _leave(here: int, parent: tuple[int, int]) -> int:
    """The parent of `here` (then closed), which must be the folder `parent` (device, inode)."""
    up = os.open("..", _DIR_FLAGS, dir_fd=here)
    mark = os.fstat(up)
    if (mark.st_dev, mark.st_ino) != parent:
        os.close(up)
        raise OSError(errno.ESTALE, "the folder tree was moved while it was visited")
    os.close(here)
    return up


def _listed(folder: int, entry: Callable[[int, str, os.stat_result], None]) -> list[str]:
    """Call `entry` for each entry of `folder`; return the names of its subfolders."""
    folders = []
    for name in os.listdir(folder):
        try:
            info = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except OSError:
            continue
        entry(folder, name, info)
        if stat.S_ISDIR(info.st_mode):
            folders.append(name)
    return folders
