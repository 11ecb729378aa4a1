"""A pass over a tar archive's raw 512-byte header blocks before `tarfile` reads it.

`tarfile` trusts sizes it should not: a GNU long-name record of 500 MB is read into memory
whole, and on Python 3.11.7 (CVE-2024-6232) a pax header with a long run of digits takes
minutes to parse. This pass reads the (decompressed) stream once, block by block, keeping
at most one extended header (`MAX_EXTENDED` bytes) in memory, and refuses before `tarfile`
sees anything:

- pax (`x`, `g`) headers over `MAX_EXTENDED` bytes, records that are not exactly
  `LEN keyword=value\\n`, runs of more than `MAX_DIGITS` digits, the `size` keyword and
  GNU sparse files (nothing a module needs, and both move where `tarfile` reads next);
- GNU long names and link targets (`L`, `K`) and pax `path` / `linkpath` over `MAX_NAME`;
- headers whose checksum is wrong and streams that end without the end-of-archive block
  (`tarfile` would silently stop there and extract half the module);
- more entries, more data or more unpacked bytes per packed byte than the limits allow.

Errors are `TarProblem(entry, problem)`; the caller makes them one-line `ManifestError`s.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from .text import shown_bytes

__all__ = ["MAX_EXTENDED", "MAX_NAME", "TarProblem", "compression", "open_stream", "prescan"]

BLOCK = 512
MAX_NAME = 4096  # PATH_MAX: no file system here takes a longer path
MAX_EXTENDED = 64 * 1024
MAX_DIGITS = 64
_EXTENDED = frozenset(b"xgXLK")  # X: Solaris pax
_NO_DATA = frozenset(b"123456")  # tarfile skips no data after these (links, devices, dirs)
_LONG_DIGITS = re.compile(rb"\d{%d}" % (MAX_DIGITS + 1))
MAX_CHAINED = 4  # tarfile recurses once per extended header before an entry


class TarProblem(ValueError):
    """A refusal: `entry` names the header (as text safe to show) and `problem` says why."""

    def __init__(self, entry: str, problem: str) -> None:
        self.entry, self.problem = entry, problem
        super().__init__(f"{entry}: {problem}")


@dataclass(frozen=True)
class ScanLimits:
    """The caps the pass enforces (the archive's own limits)."""

    max_entries: int
    max_bytes: int
    max_ratio: float
    packed: int


def compression(head: bytes) -> str | None:
    """`gz`, `bz2`, `xz` or `""` (plain tar) from the first bytes; None when not a tar."""
    if head[:2] == b"\x1f\x8b":
        return "gz"
    if head[:3] == b"BZh":
        return "bz2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[257:262] == b"ustar":
        return ""
    return None


def open_stream(path: Path, kind: str) -> BinaryIO:
    """The decompressed byte stream of a tar archive compressed as `kind`."""
    if kind == "gz":
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]  # a BinaryIO in all but name
    if kind == "bz2":
        return bz2.BZ2File(path, "rb")  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def prescan(stream: IO[bytes], limits: ScanLimits) -> None:
    """Read every header of the tar `stream`; raise `TarProblem` for anything listed in
    the module docstring. Decompression errors (`OSError`, `EOFError`, `lzma.LZMAError`)
    propagate."""
    _Scan(stream, limits).run()


class _Scan:
    def __init__(self, stream: IO[bytes], limits: ScanLimits) -> None:
        self.stream, self.limits = stream, limits
        self.offset = self.entries = self.data = 0

    def read(self, size: int, entry: str) -> bytes:
        chunk = self.stream.read(size)
        self.count(len(chunk), entry)
        if len(chunk) < size:
            raise TarProblem(entry, "the archive ends inside this entry (truncated)")
        return chunk

    def count(self, size: int, entry: str) -> None:
        self.offset += size
        if self.offset > 1024 * 1024 and self.offset / self.limits.packed > self.limits.max_ratio:
            raise TarProblem(
                entry, f"unpacks to over {self.limits.max_ratio:g}x its packed size (a bomb?)"
            )

    def skip(self, size: int, entry: str) -> None:
        while size > 0:
            step = min(size, 1024 * 1024)
            self.read(step, entry)
            size -= step

    def drain(self) -> None:
        """Read the rest of the stream, so that a compressed stream's checksum is verified."""
        while chunk := self.stream.read(1024 * 1024):
            self.count(len(chunk), "the data after the end-of-archive block")

    def run(self) -> None:
        pending_name, chained = "", 0
        while True:
            at = f"header at offset {self.offset}"
            head = self.stream.read(BLOCK)
            self.offset += len(head)
            if len(head) < BLOCK:
                raise TarProblem(at, "the archive ends without its end-of-archive block")
            if head == bytes(BLOCK):
                self.drain()
                return
            name = pending_name or _shown_name(head[:100])
            pending_name = ""
            try:
                kind, size = _check_header(head, name)
            except TarProblem as exc:
                if self.offset == BLOCK:  # the very first block: not a tar at all
                    raise ValueError(f"not a tar archive: {exc.problem}") from None
                raise
            padded = -(-size // BLOCK) * BLOCK
            if kind in _EXTENDED:
                chained += 1
                if chained > MAX_CHAINED:
                    raise TarProblem(name, f"more than {MAX_CHAINED} extended headers in a row")
                if size > MAX_EXTENDED:
                    raise TarProblem(
                        name, f"an extended header of {size} bytes (limit {MAX_EXTENDED})"
                    )
                payload = self.read(padded, name)
                pending_name = _extended(kind, payload, size, name)
                continue
            chained = 0
            self.entry(kind, size, padded, name)

    def entry(self, kind: int, size: int, padded: int, name: str) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise TarProblem(name, f"more than {self.limits.max_entries} entries")
        if kind == ord("S"):
            raise TarProblem(name, "a GNU sparse file; store it as a regular file")
        if kind in _NO_DATA:
            return
        self.data += size
        if self.data > self.limits.max_bytes:
            raise TarProblem(name, f"unpacks to more than {self.limits.max_bytes} bytes")
        self.skip(padded, name)


def _shown_name(field: bytes) -> str:
    return _long_name(field.split(b"\0", 1)[0])


def _number(field: bytes, name: str, what: str) -> int:
    """A numeric header field as `tarfile` reads it: octal text, or base-256."""
    if field[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field[1:], "big")
        return value - (256 ** (len(field) - 1)) if field[:1] == b"\xff" else value
    text = field.split(b"\0", 1)[0].strip()
    if not re.fullmatch(rb"[0-7]*", text):
        raise TarProblem(name, f"the header's {what} field is not a number (corrupt?)")
    return int(text or b"0", 8)


def _check_header(head: bytes, name: str) -> tuple[int, int]:
    expected = _number(head[148:156], name, "checksum")
    rest = head[:148] + head[156:]
    unsigned = 256 + sum(rest)
    signed = unsigned - 256 * sum(1 for b in rest if b >= 128)
    if expected not in (unsigned, signed):
        raise TarProblem(name, "the header checksum is wrong (a corrupt or truncated archive)")
    size = _number(head[124:136], name, "size")
    if size < 0:
        raise TarProblem(name, "a negative size")
    kind = head[156]
    if kind == 0 and head[:100].split(b"\0", 1)[0].endswith(b"/"):
        kind = ord("5")  # an old (V7) folder: tarfile reads no data after it
    return kind, size


def _extended(kind: int, payload: bytes, size: int, name: str) -> str:
    """Check an extended header; return the name it gives the next entry (for errors)."""
    body = payload[:size]
    if kind in (ord("L"), ord("K")):
        text = body.split(b"\0", 1)[0]
        if len(text) > MAX_NAME:
            what = "name" if kind == ord("L") else "link target"
            raise TarProblem(name, f"a GNU long {what} of {len(text)} bytes (limit {MAX_NAME})")
        return _long_name(text) if kind == ord("L") else ""
    if _LONG_DIGITS.search(body):
        raise TarProblem(name, f"a pax header with a run of over {MAX_DIGITS} digits")
    if payload[size : size + 1].isdigit():
        raise TarProblem(name, "a pax header with data after its records")
    path = _pax_records(body, name)
    return _long_name(path) if path is not None else ""


def _long_name(raw: bytes) -> str:
    return f"entry {shown_bytes(raw)}"


def _pax_records(body: bytes, name: str) -> bytes | None:
    """Parse `LEN keyword=value\\n` records exactly; return the `path` value if any."""
    pos, path = 0, None
    while pos < len(body):
        space = body.find(b" ", pos, pos + 8)
        digits = body[pos:space] if space > pos else b""
        if not digits.isdigit() or digits[:1] == b"0":
            raise TarProblem(name, f"a malformed pax record at byte {pos}")
        end = pos + int(digits)
        equals = body.find(b"=", space + 1, end)
        if end > len(body) or equals <= space + 1 or body[end - 1 : end] != b"\n":
            raise TarProblem(name, f"a malformed pax record at byte {pos}")
        keyword, value = body[space + 1 : equals], body[equals + 1 : end - 1]
        if keyword.startswith(b"GNU.sparse.") or keyword == b"size":
            raise TarProblem(
                name, f"a pax {keyword[:40]!r} record (sparse or resized entries are refused)"
            )
        if keyword in (b"path", b"linkpath") and len(value) > MAX_NAME:
            raise TarProblem(
                name, f"a pax {keyword.decode()} of {len(value)} bytes (limit {MAX_NAME})"
            )
        if keyword == b"path":
            path = value
        pos = end
    return path
