"""An on-disk cache of compiled artifacts, keyed by the caller, each entry verified before use.

Deserializing a compiled artifact runs native code, so an entry is trusted only when it is
proven to be one this user's sandbench wrote:

- the cache folder is private: created with mode 0700 and refused when another user owns
  it or others may write to it;
- a per-user secret key (32 random bytes, `.hmac-key`, mode 0600) lives in the folder,
  created with it and refused when it is not a private regular file of this user;
- every entry ends with an HMAC-SHA256, under that key, of the entry's key and the
  artifact's bytes. `load` reads the whole file once, checks the MAC and returns the bytes
  it checked (callers deserialize those bytes, never the file again, so the file cannot be
  swapped between the check and the use; `verified_file` gives loaders that map a file a
  private, verified copy instead). A missing, truncated, flipped, swapped or foreign
  entry is a miss: it is removed, counted in `rejected`, and the caller compiles afresh.

Entries are written to a temporary file and renamed into place, so a reader never sees
half an artifact and concurrent writers (several processes of a nightly run) do not clash.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import mmap
import os
import secrets
import stat
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from sandbench.errors import SandboxError

__all__ = ["ArtifactCache", "default_cache_dir"]

_LOG = logging.getLogger(__name__)
_MAGIC = b"SBMAC1\n\0"  # format tag before the MAC: an older cache's entry is a miss
_MAC_SIZE = hashlib.sha256().digest_size
_TRAILER = len(_MAGIC) + _MAC_SIZE
KEY_NAME = ".hmac-key"
_KEY_SIZE = 32


_MEMFD = hasattr(os, "memfd_create") and Path("/proc/self/fd").is_dir()
HOLD_BYTES = 512 * 1024 * 1024  # verified artifacts held per cache object, at most


def _copy_all(source: int, target: int, size: int) -> None:
    """Copy `size` bytes in the kernel (`sendfile`); a file cut short meanwhile fails the MAC."""
    offset = 0
    while offset < size:
        sent = os.sendfile(target, source, offset, size - offset)
        if sent == 0:
            return
        offset += sent


def default_cache_dir() -> Path:
    """`$SANDBENCH_CACHE_DIR`, else `$XDG_CACHE_HOME/sandbench`, else `~/.cache/sandbench`."""
    if explicit := os.environ.get("SANDBENCH_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sandbench"


def _not_private(what: Path, fix: str) -> SandboxError:
    return SandboxError(
        f"{what} is not private (owned by another user, not a plain file or folder, or "
        f"readable or writable by others); compiled code from it cannot be trusted. {fix}"
    )


def _private_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.stat()
    except OSError as exc:
        raise SandboxError(
            f"cache folder {directory} cannot be created: {exc.strerror}; "
            "set SANDBENCH_CACHE_DIR to a writable folder"
        ) from None
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise _not_private(directory, f"Run `chmod 700 {directory}` or set SANDBENCH_CACHE_DIR")


def _read_key(path: Path) -> bytes:
    """The secret key at `path`; raises `SandboxError` unless it is this user's, 0600 or
    stricter, a regular file (not a link) and 32 bytes long."""
    fix = f"Remove {path} (a new key is made; the cache is rebuilt) or set SANDBENCH_CACHE_DIR"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        raise _not_private(path, fix) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        private = info.st_uid == os.getuid() and not info.st_mode & 0o077
        if not (stat.S_ISREG(info.st_mode) and private):
            raise _not_private(path, fix)
        key = handle.read(_KEY_SIZE + 1)
    if len(key) != _KEY_SIZE:
        raise _not_private(path, fix)
    return key


def _secret_key(directory: Path) -> bytes:
    """This cache's key, made (0600, atomically: `link` never replaces) when there is none."""
    path = directory / KEY_NAME
    if not os.path.lexists(path):
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-key-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(_KEY_SIZE))
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.link(tmp, path)
        except OSError as exc:
            raise SandboxError(f"{path} cannot be created: {exc.strerror}") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return _read_key(path)


class ArtifactCache:
    """Files named by key under one private folder, each carrying its MAC (see the module
    docstring). Raises `SandboxError` when the folder or its key is not private."""

    def __init__(self, directory: Path, suffix: str) -> None:
        self.directory = directory
        self._suffix = suffix
        _private_dir(directory)
        self._secret = _secret_key(directory)
        self._held = _Held()
        self.rejected = 0  # entries refused since this object was made (a MAC mismatch)

    def close(self) -> None:
        """Release the verified artifacts held in memory. Closing twice is harmless."""
        self._held.close()

    def path(self, key: str) -> Path:
        """Where the entry for `key` lives (whether or not it exists)."""
        return self.directory / f"{key}{self._suffix}"

    def _mac(self, key: str, data: bytes | bytearray | memoryview) -> bytes:
        mac = hmac.new(self._secret, key.encode() + b"\0", hashlib.sha256)
        mac.update(data)
        return mac.digest()

    def load(self, key: str) -> bytearray | None:
        """The artifact stored for `key`, verified, or None on a miss. An entry that fails
        verification is removed and counted in `rejected`."""
        path = self.path(key)
        try:
            with path.open("rb", buffering=0) as handle:
                blob = bytearray(os.fstat(handle.fileno()).st_size)
                del blob[handle.readinto(blob) or 0 :]  # a file cut short meanwhile
        except OSError:
            return None
        if not self._verified(key, blob):
            self._reject(key)
            return None
        del blob[-_TRAILER:]  # in place: no copy of a large artifact
        return blob

    def _verified(self, key: str, blob: bytearray | mmap.mmap) -> bool:
        if len(blob) < _TRAILER:
            return False
        with memoryview(blob) as view:
            expected = _MAGIC + self._mac(key, view[:-_TRAILER])
            return hmac.compare_digest(view[-_TRAILER:], expected)

    @contextlib.contextmanager
    def verified(self, key: str) -> Iterator[str | bytearray | None]:
        """The verified artifact for `key` inside the block (None on a miss): a path to a
        private verified copy (`verified_file`), or its bytes where there is no
        `memfd_create` (not Linux; do not modify them).

        What was verified once is held by this object (at most `HOLD_BYTES`, least recently
        used dropped first) and never read from the folder again, so later loads skip the
        copy and the MAC, map the file as a plain cached load did (no copy of a 40 MB
        component through Python), and no later change to the cache file can reach them.
        Measured in benchmarks/test_cache_verify.py and test_wasm_overhead.py.
        """
        held = self._held.get(key)
        if held is None:
            held = self._fetch(key)
            if held is None:
                yield None
                return
            self._held.add(key, held)
        yield held if isinstance(held, bytearray) else f"/proc/self/fd/{held}"

    def _fetch(self, key: str) -> bytearray | int | None:
        if not _MEMFD:  # pragma: no cover - not Linux
            return self.load(key)
        return self._private_copy(key)

    @contextlib.contextmanager
    def verified_file(self, key: str) -> Iterator[str | None]:
        """A path to a private, verified copy of the artifact for `key`, valid inside the
        block (None on a miss, or without `memfd_create`, i.e. not on Linux).

        The entry is copied in the kernel into an anonymous memory file only this process
        holds, the MAC is checked on that copy, and the copy is what the path names, so
        the cache file can change at any moment without effect.
        """
        private = self._private_copy(key) if _MEMFD else None
        if private is None:
            yield None
            return
        try:
            yield f"/proc/self/fd/{private}"
        finally:
            os.close(private)

    def _private_copy(self, key: str) -> int | None:
        """A private file descriptor holding the verified artifact (its MAC cut off)."""
        try:
            source = os.open(self.path(key), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        copy = os.memfd_create("sandbench-artifact", os.MFD_CLOEXEC)
        try:
            with os.fdopen(source, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                _copy_all(handle.fileno(), copy, size)
            ok = size > _TRAILER and self._mapped_ok(key, copy, size)
            if ok:
                os.ftruncate(copy, size - _TRAILER)
                return copy
        except OSError:
            ok = False
        os.close(copy)
        if not ok:
            self._reject(key)
        return None

    def _mapped_ok(self, key: str, fd: int, size: int) -> bool:
        with mmap.mmap(fd, size, prot=mmap.PROT_READ) as mapped:
            return self._verified(key, mapped)

    def _reject(self, key: str) -> None:
        self.rejected += 1
        _LOG.info("cache entry %s failed verification; it is recompiled", self.path(key).name)
        self.discard(key)

    def put(self, key: str, data: bytes | bytearray) -> None:
        """Store `data` for `key` followed by its MAC, atomically. A failure to write is not
        fatal: it is a miss next time."""
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=self._suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.write(_MAGIC + self._mac(key, data))
            os.replace(tmp, self.path(key))
            self._held.add(key, _holding(data))  # just compiled: trusted as it is
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def discard(self, key: str) -> None:
        """Remove the entry for `key` (e.g. when it no longer deserializes)."""
        self._held.drop(key)
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()


def _holding(data: bytes | bytearray) -> bytearray | int:
    """What `_Held` keeps for freshly written `data`: a private memory file (its bytes
    where there is none)."""
    if not _MEMFD:  # pragma: no cover - not Linux
        return bytearray(data)
    fd = os.memfd_create("sandbench-artifact", os.MFD_CLOEXEC)
    with memoryview(data) as view:
        written = 0
        while written < len(view):
            written += os.write(fd, view[written:])
    return fd


class _Held:
    """Verified artifacts in memory, least recently used first out; memory files closed."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, bytearray | int] = OrderedDict()
        self._total = 0

    @staticmethod
    def _size(item: bytearray | int) -> int:
        return len(item) if isinstance(item, bytearray) else os.fstat(item).st_size

    def get(self, key: str) -> bytearray | int | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def add(self, key: str, item: bytearray | int) -> None:
        self.drop(key)
        self._items[key] = item
        self._total += self._size(item)
        while self._total > HOLD_BYTES and len(self._items) > 1:
            self.drop(next(iter(self._items)))

    def drop(self, key: str) -> None:
        item = self._items.pop(key, None)
        if item is None:
            return
        self._total -= self._size(item)
        if isinstance(item, int):
            os.close(item)

    def close(self) -> None:
        for key in list(self._items):
            self.drop(key)
