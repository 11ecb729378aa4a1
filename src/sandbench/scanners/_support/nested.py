"""Archives shipped inside a module that can carry code no scanner reads.

The code scanners read a module's files as they are on disk: a wheel, an egg, a zipapp
or a tarball inside the module is compressed bytes to all of them (GuardDog's text rules
included), yet a container image built from the module installs it, and Python imports
straight from a zip on `sys.path`. Such a file is `coverage`'s `not-scanned`:

- a zip (by its magic, whatever its name: `.whl`, `.egg`, `.pyz`, `.zip`) whose
  directory names Python code, a native extension or a `.pth` file;
- a tar archive, plain or gzip / bzip2 / xz compressed (the first 64 KiB are decompressed
  to find the tar header): an sdist or any tarball.

Data that is only compressed (`data.csv.gz`) or a zip of documents is not reported.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
from pathlib import Path

__all__ = ["code_archive"]

_HEAD = 64 * 1024
_CODE = (".py", ".pyc", ".pyo", ".pth", ".so", ".pyd")


def code_archive(path: Path) -> str | None:
    """Why `path` is an archive whose contents no scanner reads, or None."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(6)
    except OSError:
        return None
    if magic[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _zip_problem(path)
    head = _decompressed_head(path, magic)
    if head is not None and head[257:262] == b"ustar":
        return "a tar archive: the scanners do not read inside it; ship its files unpacked"
    return None


def _zip_problem(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None  # not a usable zip: nothing imports from it either
    code = [n for n in names if n.lower().endswith(_CODE)]
    if not code:
        return None
    return (
        f"a zip archive holding code ({len(code)} files, e.g. {code[0][:80]!r}): the scanners "
        "do not read inside it; ship its files unpacked"
    )


def _decompressed_head(path: Path, magic: bytes) -> bytes | None:
    """The first bytes of the file, decompressed if it is gzip, bzip2 or xz."""
    try:
        with _opened(path, magic) as stream:
            return bytes(stream.read(_HEAD))
    except (OSError, EOFError, lzma.LZMAError, ValueError):
        return None


def _opened(path: Path, magic: bytes) -> io.BufferedIOBase:
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(path, "rb")
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(path, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(path, "rb")
    return path.open("rb")
