"""Safe extraction of module archives (`.tar.gz`, `.tgz`, `.tar.bz2`, `.tar.xz`, `.tar`, `.zip`).

An archive is untrusted input. Work is bounded before it is done, every entry is checked
before anything is written, and files are written by this module (never by `extractall`):

- a tar archive's raw headers are read first (`tarscan`): oversized pax headers and GNU
  long names, malformed pax records, sparse files, bad checksums, truncation and too many
  entries or bytes are refused before `tarfile` parses anything (CVE-2024-6232); a zip's
  entry count is read from its end record before `zipfile` reads its directory;
- absolute paths, `..` components, names that are not printable UTF-8, paths over 4096
  bytes and components over 255 bytes are refused; `./` (as `tar -C dir .` writes) is the
  root itself;
- symbolic links must be relative, and once every entry is in, each is resolved the way
  the kernel would (`links`): one whose resolution leaves the tree, loops or is more than
  40 links deep is refused; an entry whose path goes through a link is refused, and every
  write walks the tree with `O_NOFOLLOW`, so nothing is ever written through a link;
  hard links, devices, FIFOs and anything else but files, folders and links are refused;
- the total size, the number of entries and the ratio of unpacked to packed size are capped
  (size and ratio bombs), on the bytes actually written, not on what the headers claim.

Every refusal, and every corrupt archive whatever the library raised, is one line of at
most about 300 characters naming the entry, as a `ManifestError`.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from sandbench._tree import MAX_DEPTH, remove_tree
from sandbench.errors import ManifestError, SandbenchError

from .links import LinkProblem, LinkTree
from .tarscan import MAX_NAME, ScanLimits, TarProblem, compression, open_stream, prescan
from .text import shown, shown_bytes

__all__ = ["ArchiveLimits", "extract", "is_archive", "opened"]

_CHUNK = 64 * 1024
_MAX_COMPONENT = 255
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps on what an archive may unpack to."""

    max_bytes: int = 256 * 1024 * 1024
    max_entries: int = 10_000
    max_ratio: float = 200.0


def is_archive(path: Path) -> bool:
    """True for a regular file that looks like a tar (plain, gzip, bzip2, xz) or zip archive."""
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        head = handle.read(262)
    return head[:4] in _ZIP_MAGIC or compression(head) is not None


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
        remove_tree(scratch)


def extract(archive: Path, dest: Path, limits: ArchiveLimits) -> Path:
    """Extract `archive` into the empty folder `dest`; return the module root inside it.

    The root is `dest` when `module.json` is at the top, or the single top-level folder
    when everything is inside one. Raises `ManifestError` (one line) for anything unsafe
    or corrupt, whatever the archive holds.
    """
    writer = _Writer(archive, dest, limits)
    try:
        with archive.open("rb") as handle:
            head = handle.read(262)
        if head[:4] in _ZIP_MAGIC:
            _extract_zip(archive, writer)
        else:
            _extract_tar(archive, compression(head) or "", writer)
        writer.finish()
    except SandbenchError:
        raise
    except TarProblem as exc:
        raise ManifestError(archive, [f"{exc.entry}: {exc.problem}; refusing to extract"]) from None
    except Exception as exc:  # a corrupt archive makes the libraries raise almost anything
        raise ManifestError(
            archive,
            [f"corrupt or unreadable archive ({_reason(exc)}); re-create it with tar or zip"],
        ) from None
    return _module_root(archive, dest)


def _reason(exc: BaseException) -> str:
    """What a library said, short and printable (UTF-8 errors name the bad bytes)."""
    if isinstance(exc, UnicodeDecodeError):
        return f"a name that is not valid UTF-8: {shown_bytes(exc.object)}"
    text = str(exc) or type(exc).__name__
    return shown(text, 100)[1:-1] if len(text) <= 100 else shown(text, 100)


class _Writer:
    """Checks entries and writes them under `dest`, counting real bytes against the caps."""

    def __init__(self, archive: Path, dest: Path, limits: ArchiveLimits) -> None:
        self.archive, self.dest, self.limits = archive, dest, limits
        self.packed = max(archive.stat().st_size, 1)
        self.written = 0
        self.entries = 0
        self.tree = LinkTree()

    def fail(self, name: str, problem: str) -> ManifestError:
        return ManifestError(self.archive, [f"entry {shown(name)}: {problem}; refusing to extract"])

    @contextlib.contextmanager
    def reading(self, name: str) -> Iterator[None]:
        """Turn a library's error while reading `name` into a refusal naming it."""
        try:
            yield
        except SandbenchError:
            raise
        except Exception as exc:
            raise self.fail(name, f"cannot be unpacked ({_reason(exc)})") from None

    def parts(self, name: str) -> tuple[str, ...]:
        """Validate an entry name; its components without `.` (empty for the root)."""
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise self.fail(name, f"more than {self.limits.max_entries} entries")
        if "\\" in name or not name.isprintable():
            if any("\udc80" <= c <= "\udcff" for c in name):
                raise self.fail(name, "the name is not valid UTF-8")
            raise self.fail(name, "the name has backslashes or control characters")
        if len(name.encode()) > MAX_NAME:
            raise self.fail(name, f"the name is longer than {MAX_NAME} bytes")
        pure = PurePosixPath(name)
        if pure.is_absolute():
            raise self.fail(name, "absolute path")
        if ".." in pure.parts:
            raise self.fail(name, "path leaves the archive through '..'")
        parts = tuple(p for p in pure.parts if p != ".")
        if len(parts) > MAX_DEPTH + 1:  # the last part may be a file
            raise self.fail(name, f"folders nested more than {MAX_DEPTH} deep")
        if any(len(p.encode()) > _MAX_COMPONENT for p in parts):
            raise self.fail(name, f"a path component is longer than {_MAX_COMPONENT} bytes")
        if not parts and "." not in name:
            raise self.fail(name, "empty name")
        return parts  # () for `.` or `./`: the root itself

    def record(
        self, name: str, parts: tuple[str, ...], kind: str, target: str | None = None
    ) -> None:
        try:
            fresh = self.tree.add(parts, kind, target)
        except LinkProblem as exc:
            raise self.fail(name, exc.problem) from None
        if not fresh:
            raise self.fail(name, "appears twice")

    def directory(self, name: str) -> None:
        parts = self.parts(name)
        if not parts:
            return  # `./`: the root itself
        self.record(name, parts, "folder")
        os.close(self._folder(parts))

    def special(self, name: str) -> None:
        """Refuse a device, FIFO or socket (after the name itself was checked)."""
        self.parts(name)
        raise self.fail(name, "is a device, FIFO or other special file")

    def link(self, name: str, target: str) -> None:
        parts = self._file_parts(name)
        if not target or not target.isprintable():
            raise self.fail(name, f"link to {shown(target)}: empty or with control characters")
        if len(target.encode()) > MAX_NAME:
            raise self.fail(name, f"link target longer than {MAX_NAME} bytes")
        if target.startswith("/"):
            raise self.fail(name, f"link to the absolute path {shown(target)}")
        self.record(name, parts, "link", target)
        folder = self._folder(parts[:-1])
        try:
            os.symlink(target, parts[-1], dir_fd=folder)
        finally:
            os.close(folder)

    def file(self, name: str, source: IO[bytes], executable: bool) -> None:
        parts = self._file_parts(name)
        self.record(name, parts, "file")
        folder = self._folder(parts[:-1])
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            fd = os.open(parts[-1], flags, 0o755 if executable else 0o644, dir_fd=folder)
        finally:
            os.close(folder)
        with os.fdopen(fd, "wb") as out, self.reading(name):
            while chunk := source.read(_CHUNK):
                self.written += len(chunk)
                self._check_size(name)
                out.write(chunk)

    def finish(self) -> None:
        """Resolve every link now that all entries are in (see `links`)."""
        try:
            self.tree.check(within=self.tree.module_folder())
        except LinkProblem as exc:
            raise self.fail(exc.path, exc.problem) from None

    def _file_parts(self, name: str) -> tuple[str, ...]:
        parts = self.parts(name)
        if not parts:
            raise self.fail(name, "empty name")
        return parts

    def _folder(self, parts: tuple[str, ...]) -> int:
        """An open descriptor of the folder `parts`, made where missing, never via a link."""
        fd = os.open(self.dest, _DIR_FLAGS)
        try:
            for part in parts:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                inner = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = inner
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _check_size(self, name: str) -> None:
        if self.written > self.limits.max_bytes:
            raise self.fail(name, f"unpacks to more than {self.limits.max_bytes} bytes")
        if self.written > 1024 * 1024 and self.written / self.packed > self.limits.max_ratio:
            raise self.fail(
                name, f"unpacks to over {self.limits.max_ratio:g}x its packed size (a bomb?)"
            )


def _extract_tar(archive: Path, kind: str, writer: _Writer) -> None:
    limits = writer.limits
    with open_stream(archive, kind) as stream:
        prescan(
            stream,
            ScanLimits(limits.max_entries, limits.max_bytes, limits.max_ratio, writer.packed),
        )
    # Exactly the stream the pre-scan read, never tarfile's own guess ("r:*" also takes
    # LZMA-alone, which has no magic): tarfile must not parse bytes the scan did not see.
    with tarfile.open(archive, mode=f"r:{kind}") as tar:  # type: ignore[call-overload]
        for member in tar:
            _tar_member(tar, member, writer)


def _tar_member(tar: tarfile.TarFile, member: tarfile.TarInfo, writer: _Writer) -> None:
    if member.isdir():
        writer.directory(member.name)
    elif member.issym():
        writer.link(member.name, member.linkname)
    elif member.islnk():
        writer.parts(member.name)
        raise writer.fail(member.name, "hard links are not allowed")
    elif member.isreg():
        with writer.reading(member.name):
            source = tar.extractfile(member)
        if source is None:  # pragma: no cover - isreg() members always have data
            raise writer.fail(member.name, "has no data")
        with source:
            writer.file(member.name, source, bool(member.mode & 0o111))
    else:
        writer.special(member.name)


def _extract_zip(archive: Path, writer: _Writer) -> None:
    _zip_count(archive, writer.limits.max_entries)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            _zip_member(zf, info, writer)


def _zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, writer: _Writer) -> None:
    mode = info.external_attr >> 16
    name = info.filename
    if not name:
        writer.parts(name)  # refuses it: ZipInfo.is_dir() fails on an empty name
    if info.flag_bits & 0x1:
        writer.parts(name)
        raise writer.fail(name, "is encrypted")
    if stat.S_ISLNK(mode):
        with writer.reading(name), zf.open(info) as source:
            raw = source.read(MAX_NAME + 1)
            target = raw.decode("utf-8")
        writer.link(name, target)
    elif info.is_dir():
        writer.directory(name)
    elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        writer.special(name)
    else:
        with writer.reading(name), zf.open(info) as source:
            writer.file(name, source, bool(mode & 0o111))


def _zip_count(archive: Path, max_entries: int) -> None:
    """Refuse a zip whose end record declares too many entries, before `zipfile` reads
    (and keeps in memory) its whole central directory."""
    with archive.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        start = max(size - (22 + 65535), 0)
        handle.seek(start)
        tail = handle.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            return  # zipfile says what is wrong
        (count,) = struct.unpack_from("<H", tail, at + 10)
        if count == 0xFFFF and at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":
            (where,) = struct.unpack_from("<Q", tail, at - 20 + 8)
            handle.seek(min(where, size))
            record = handle.read(56)
            if len(record) == 56 and record[:4] == b"PK\x06\x06":
                (count,) = struct.unpack_from("<Q", record, 32)
    if count > max_entries:
        raise ManifestError(
            archive, [f"declares {count} entries, more than {max_entries}; refusing to extract"]
        )


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
