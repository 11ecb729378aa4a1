"""The module digest: one SHA-256 over a module's files, reproducible anywhere.

The algorithm (version 1) is specified in docs/digest.md; in short:

1. Take every regular file and symbolic link under the module root, skipping the folders
   `.git`, `.hg`, `.svn`, `__pycache__` and `.sandbench` and files ending in `.pyc`.
   Links are not followed: a link contributes its target text (whether a link may lead
   out of the module is the loader's question: `load` refuses such trees, see `links`).
   `module.sig` at the root (the publisher signature, see `publisher`) is left out; it
   must be a regular file there.
2. Replace `module.json` at the root with its canonical JSON without `signature`
   (keys sorted, no spaces, UTF-8), so the signature can live inside the file it signs.
3. Sort by relative path (`/`-separated, compared as UTF-8 bytes) and hash
   `b"sandbench-digest-v1\\n"` followed, per entry, by
   `kind SP path NUL len NUL content` where kind is `f` (file) or `l` (link).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sandbench._tree import MAX_DEPTH, walk

from .links import LinkTree
from .text import clipped

__all__ = ["MANIFEST_NAME", "SIGNATURE_NAME", "canonical_manifest", "compute_digest"]

MANIFEST_NAME = "module.json"
SIGNATURE_NAME = "module.sig"
_SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".sandbench"})
_HEADER = b"sandbench-digest-v1\n"
MAX_FILES = 20_000
MAX_TOTAL_BYTES = 2 * 1024**3


class DigestError(ValueError):
    """The module tree cannot be digested; the message names the file."""


def canonical_manifest(raw: dict[str, Any]) -> bytes:
    """The bytes of `module.json` that the digest covers: canonical JSON, no signature."""
    unsigned = {k: v for k, v in raw.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _unreadable(exc: OSError) -> None:
    # os.walk skips folders it cannot list unless told otherwise; a digest that silently
    # leaves out files would not be the digest of the module.
    raise DigestError(f"{clipped(str(exc.filename), 200)}: cannot be read ({exc.strerror})")


def _is_signature(rel: str, mode: int) -> bool:
    """True for `module.sig` at the root, which the digest leaves out: it cannot cover itself.

    Only a regular file is left out: a link by that name is an error, since whatever is
    not digested must not be able to stand for content.
    """
    if rel != SIGNATURE_NAME:
        return False
    if not stat.S_ISREG(mode):
        raise DigestError(f"{rel}: must be a regular file (the publisher signature)")
    return True


def _entries(root: Path, tree: LinkTree) -> Iterator[tuple[bytes, str, Path]]:
    for dirpath, dirnames, filenames in walk(root, onerror=_unreadable):
        here = Path(dirpath)
        where = here.relative_to(root).parts
        if len(where) > MAX_DEPTH:
            raise DigestError(
                f"{clipped(here.relative_to(root).as_posix(), 200)}: folders nested more than"
                f" {MAX_DEPTH} deep; flatten the module"
            )
        if where:
            tree.add(where, "folder")
        # Links to folders show up in dirnames; digest them as links, never descend.
        for name in list(dirnames):
            if (here / name).is_symlink():
                dirnames.remove(name)
                filenames.append(name)
            elif name in _SKIP_DIRS:
                dirnames.remove(name)
        for name in filenames:
            if not name.endswith(".pyc"):
                yield from _entry(root, here / name, (*where, name), tree)


def _entry(
    root: Path, path: Path, parts: tuple[str, ...], tree: LinkTree
) -> Iterator[tuple[bytes, str, Path]]:
    """One file of the walk, as (relative path, kind, path); nothing for `module.sig`."""
    rel = path.relative_to(root).as_posix()
    mode = path.lstat().st_mode
    if _is_signature(rel, mode):
        return
    if stat.S_ISLNK(mode):
        tree.add(parts, "link", os.readlink(path))
        yield os.fsencode(rel), "l", path
    elif stat.S_ISREG(mode):
        tree.add(parts, "file")
        yield os.fsencode(rel), "f", path
    else:
        raise DigestError(
            f"{clipped(rel, 200)}: not a regular file or link; remove it from the module"
        )


def compute_digest(root: Path, manifest_raw: dict[str, Any], links: LinkTree | None = None) -> str:
    """Return the lowercase hex digest of the module at `root`; record its folders,
    files and links in `links` when given (for `LinkTree.check`).

    Raises `DigestError` for special files (devices, FIFOs, sockets), for files or folders
    that cannot be read and for trees over 20,000 files or 2 GiB.
    """
    try:
        return _digest(root, manifest_raw, links or LinkTree())
    except OSError as exc:
        raise DigestError(
            f"{clipped(str(exc.filename), 200)}: cannot be read ({exc.strerror})"
        ) from None


def _digest(root: Path, manifest_raw: dict[str, Any], tree: LinkTree) -> str:
    entries = sorted(_entries(root, tree))
    if len(entries) > MAX_FILES:
        raise DigestError(f"more than {MAX_FILES} files; a module should be far smaller")
    sha = hashlib.sha256(_HEADER)
    total = 0
    for rel, kind, path in entries:
        if kind == "l":
            content = os.fsencode(os.readlink(path))
        elif rel == MANIFEST_NAME.encode():
            content = canonical_manifest(manifest_raw)
        else:
            content = path.read_bytes()
        total += len(content)
        if total > MAX_TOTAL_BYTES:
            raise DigestError("module files exceed 2 GiB; a module should be far smaller")
        sha.update(kind.encode() + b" " + rel + b"\0" + str(len(content)).encode() + b"\0")
        sha.update(content)
    return sha.hexdigest()
