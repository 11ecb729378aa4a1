"""Safe extraction of module archives (`.tar.gz`, `.tgz`, `.tar`, `.zip`).

An archive is untrusted input. Every entry is checked before anything is written, and
files are written by this module (never by `extractall`), so that:

- absolute paths, `..` components and names that are not plain text are refused;
- symbolic links must be relative and stay inside the tree; hard links are refused;
- devices, FIFOs and anything else that is not a file, folder or link are refused;
- the total size, the number of entries and the ratio of unpacked to packed size are capped
  (size and ratio bombs), and the caps are enforced on the bytes actually written, not on
  what the headers claim.

Each refusal is one line naming the entry and what to do, as a `ManifestError`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from sandbench.errors import ManifestError

__all__ = ["ArchiveLimits", "extract", "is_archive", "opened"]

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps on what an archive may unpack to."""

    max_bytes: int = 256 * 1024 * 1024
    max_entries: int = 10_000
    max_ratio: float = 200.0


def is_archive(path: Path) -> bool:
    """True for a regular file that looks like a tar (possibly gzipped) or zip archive."""
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        head = handle.read(262)
    return head[:2] == b"\x1f\x8b" or head[:4] == b"PK\x03\x04" or head[257:262] == b"ustar"


@contextlib.contextmanager
def opened(path: Path | str, limits: ArchiveLimits | None = None) -> Iterator[Path]:
    """Yield the module folder for `path`: the folder itself, or an archive extracted to a
    private temporary folder that is removed afterwards."""
    source = Path(path)
    if not is_archive(source):
        yield source
        return
    scratch = Path(tempfile.mkdtemp(prefix="sandbench-archive-"))
    try:
        yield extract(source, scratch, limits or ArchiveLimits())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def extract(archive: Path, dest: Path, limits: ArchiveLimits) -> Path:
    """Extract `archive` into the empty folder `dest`; return the module root inside it.

    The root is `dest` when `module.json` is at the top, or the single top-level folder
    when everything is inside one. Raises `ManifestError` for anything unsafe or corrupt.
    """
    writer = _Writer(archive, dest, limits)
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, writer)
        else:
            _extract_tar(archive, writer)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ManifestError(
            archive, [f"corrupt or unreadable archive ({exc}); re-create it with tar or zip"]
        ) from None
    return _module_root(archive, dest)


class _Writer:
    """Checks entries and writes them under `dest`, counting real bytes against the caps."""

    def __init__(self, archive: Path, dest: Path, limits: ArchiveLimits) -> None:
        self.archive, self.dest, self.limits = archive, dest, limits
        self.packed = max(archive.stat().st_size, 1)
        self.written = 0
        self.entries = 0
        self.seen: set[str] = set()

    def fail(self, name: str, problem: str) -> ManifestError:
        return ManifestError(self.archive, [f"entry {name!r}: {problem}; refusing to extract"])

    def target(self, name: str) -> Path:
        """Validate an entry name and return where it goes."""
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise self.fail(name, f"more than {self.limits.max_entries} entries")
        if "\\" in name or "\x00" in name or not name.isprintable():
            raise self.fail(name, "the name has backslashes or control characters")
        pure = PurePosixPath(name)
        if pure.is_absolute():
            raise self.fail(name, "absolute path")
        if ".." in pure.parts:
            raise self.fail(name, "path leaves the archive through '..'")
        parts = [p for p in pure.parts if p != "."]
        if not parts:
            raise self.fail(name, "empty name")
        key = "/".join(parts)
        if key in self.seen:
            raise self.fail(name, "appears twice")
        self.seen.add(key)
        path = self.dest.joinpath(*parts)
        for parent in reversed(path.relative_to(self.dest).parents):
            if (self.dest / parent).is_symlink():
                raise self.fail(name, "goes through a link")
        return path

    def directory(self, name: str) -> None:
        self.target(name).mkdir(parents=True, exist_ok=True, mode=0o755)

    def special(self, name: str) -> None:
        """Refuse a device, FIFO or socket (after the name itself was checked)."""
        self.target(name)
        raise self.fail(name, "is a device, FIFO or other special file")

    def link(self, name: str, target: str) -> None:
        path = self.target(name)
        if target.startswith("/") or not target:
            raise self.fail(name, f"link to the absolute path {target!r}")
        resolved = os.path.normpath(path.parent.relative_to(self.dest) / target)
        if resolved == ".." or resolved.startswith(("../", "/")):
            raise self.fail(name, f"link to {target!r} leaves the module")
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)

    def file(self, name: str, source: IO[bytes], executable: bool) -> None:
        path = self.target(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags, 0o755 if executable else 0o644)
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(_CHUNK):
                self.written += len(chunk)
                self._check_size(name)
                out.write(chunk)

    def _check_size(self, name: str) -> None:
        if self.written > self.limits.max_bytes:
            raise self.fail(name, f"unpacks to more than {self.limits.max_bytes} bytes")
        if self.written > 1024 * 1024 and self.written / self.packed > self.limits.max_ratio:
            raise self.fail(
                name, f"unpacks to over {self.limits.max_ratio:g}x its packed size (a bomb?)"
            )


def _extract_tar(archive: Path, writer: _Writer) -> None:
    with tarfile.open(archive, mode="r:*") as tar:
        for member in tar:
            if member.isdir():
                writer.directory(member.name)
            elif member.issym():
                writer.link(member.name, member.linkname)
            elif member.islnk():
                raise writer.fail(member.name, "hard links are not allowed")
            elif member.isreg():
                source = tar.extractfile(member)
                if source is None:  # pragma: no cover - isreg() members always have data
                    raise writer.fail(member.name, "has no data")
                with source:
                    writer.file(member.name, source, bool(member.mode & 0o111))
            else:
                writer.special(member.name)


def _extract_zip(archive: Path, writer: _Writer) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            mode = info.external_attr >> 16
            if info.flag_bits & 0x1:
                raise writer.fail(info.filename, "is encrypted")
            if stat.S_ISLNK(mode):
                writer.link(info.filename, zf.read(info).decode("utf-8", "replace"))
            elif info.is_dir():
                writer.directory(info.filename)
            elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):
                writer.special(info.filename)
            else:
                with zf.open(info) as source:
                    writer.file(info.filename, source, bool(mode & 0o111))


def _module_root(archive: Path, dest: Path) -> Path:
    if (dest / "module.json").is_file():
        return dest
    tops = list(dest.iterdir())
    single = tops[0] if len(tops) == 1 else None
    if single is not None and not single.is_symlink() and (single / "module.json").is_file():
        return single
    raise ManifestError(
        archive,
        ["no module.json at the top of the archive or in its single top-level folder"],
    )
