"""The `storage` capability: files in granted buckets, with the module's storage quota.

`storage:read:BUCKET` grants reading and listing; `storage:write:BUCKET` grants writing
too. A key is a relative path of plain names (`reports/2026.csv`): absolute keys, `.` and
`..` components, empty components and NUL are bad arguments. Every component is opened
relative to the bucket with `O_NOFOLLOW`, so a symlink inside a bucket (planted by a
module through WASI, or by anyone) is never followed out of it.

The quota (`limits.storage`) counts the bytes of regular files in all the module's
buckets. It is measured from disk at every write (so files the module wrote directly
through its WASI preopens count too); a write that would pass it fails with `quota` and
changes nothing.

Each bucket's folder is opened once, on its first use, and the descriptor kept until
`close()` (`HostApi.close`): a call then opens only the key's own components, relative to
it. A folder removed since is opened again from its path. Calls that use a descriptor hold
the storage's lock, so `close()` never closes one in use (a reused descriptor number could
otherwise point a call at another file).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from sandbench._tree import visit

from .codes import Code, HostResult
from .record import Recorder

__all__ = ["MAX_KEY", "Storage", "bucket_bytes"]

_BLOCK = 4096

MAX_KEY = 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO planted in a bucket must not hang the call in open(); it is then
# refused as not a regular file. Regular files ignore the flag.
_FILE_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
T = TypeVar("T")
P = ParamSpec("P")


class Storage:
    """See the module docstring. `read` maps bucket -> folder; `write` likewise (read-write)."""

    def __init__(
        self,
        read: Mapping[str, Path],
        write: Mapping[str, Path],
        quota_bytes: int,
        recorder: Recorder,
    ) -> None:
        self._buckets = {**read, **write}
        self._writable = frozenset(write)
        self._quota = quota_bytes
        self._recorder = recorder
        self._used = sum(bucket_bytes(path) for path in self._buckets.values())
        self._roots: dict[str, int] = {}  # bucket -> descriptor of its folder
        self._lock = threading.Lock()

    @property
    def used_bytes(self) -> int:
        """Bytes in the module's buckets, as the quota counts them."""
        return self._used

    def close(self) -> None:
        """Close the buckets' folder descriptors; twice is harmless (a later call opens
        them again)."""
        with self._lock:
            roots, self._roots = self._roots, {}
        for fd in roots.values():
            os.close(fd)

    def read(self, bucket: str, key: str, cap: int) -> HostResult:
        """The object's bytes; `too-large` when it is over `cap`."""
        if bucket not in self._buckets or not _valid_key(key):  # `_check` says why
            return HostResult(self._check(bucket, key, "read", write=False))
        try:
            data = self._in_bucket(bucket, _read_file, key, cap)
        except OSError as exc:
            return HostResult(self._failed("read", bucket, key, exc))
        target = f"{bucket}/{key}"
        if data is None:
            return HostResult(self._recorder.call("storage", "read", target, Code.TOO_LARGE))
        self._recorder.call("storage", "read", target, Code.OK)
        return HostResult(Code.OK, data)

    def write(self, bucket: str, key: str, data: bytes) -> HostResult:
        """Replace the object with `data`, creating folders on the way; checks the quota."""
        code = self._check(bucket, key, "write", write=True)
        if code is not Code.OK:
            return HostResult(code)
        try:
            self._used = sum(bucket_bytes(path) for path in self._buckets.values())
            growth, done = self._in_bucket(bucket, _replace, key, data, self._room)
        except OSError as exc:
            return HostResult(self._failed("write", bucket, key, exc))
        target = f"{bucket}/{key}"
        if not done:
            detail = f"{self._used + growth:,} bytes would pass limits.storage ({self._quota:,})"
            return HostResult(self._recorder.call("storage", "write", target, Code.QUOTA, detail))
        self._used += growth
        self._recorder.call("storage", "write", target, Code.OK)
        return HostResult(Code.OK, value=len(data))

    def _room(self, growth: int) -> bool:
        return growth <= 0 or self._used + growth <= self._quota

    def list(self, bucket: str, prefix: str, cap: int) -> HostResult:
        """Keys under the folder `prefix` ("" for the bucket), one a line, folders ending in /."""
        code = self._check(bucket, prefix or ".", "list", write=False, folder=True)
        if code is not Code.OK:
            return HostResult(code)
        try:
            names = self._in_bucket(bucket, _list, prefix)
        except OSError as exc:
            return HostResult(self._failed("list", bucket, prefix, exc))
        data = "".join(f"{name}\n" for name in sorted(names)).encode()
        target = f"{bucket}/{prefix}"
        if len(data) > cap:
            return HostResult(self._recorder.call("storage", "list", target, Code.TOO_LARGE))
        self._recorder.call("storage", "list", target, Code.OK)
        return HostResult(Code.OK, data)

    def _in_bucket(
        self, bucket: str, use: Callable[Concatenate[int, P], T], *args: P.args, **kw: P.kwargs
    ) -> T:
        """`use(descriptor of the bucket's folder, *args)`, holding the lock that keeps it
        open. Raises `OSError` as opening the folder or `use` does."""
        with self._lock:
            root = self._roots.get(bucket)
            if root is None:
                root = self._roots[bucket] = os.open(self._buckets[bucket], _DIR_FLAGS)
            try:
                return use(root, *args, **kw)
            except FileNotFoundError:
                if os.fstat(root).st_nlink:  # the folder is still there: the key is not
                    raise
            # The folder was removed since it was opened: its path may name a new one.
            del self._roots[bucket]
            os.close(root)
            root = self._roots[bucket] = os.open(self._buckets[bucket], _DIR_FLAGS)
            return use(root, *args, **kw)

    def _check(
        self, bucket: str, key: str, action: str, *, write: bool, folder: bool = False
    ) -> Code:
        if bucket not in self._buckets:
            detail = f"no storage permission for {bucket!r}"
        elif write and bucket not in self._writable:
            detail = f"storage:read:{bucket} is read-only"
        elif not (folder and key == ".") and not _valid_key(key):
            detail = "a key must be a relative path of names"
        else:
            return Code.OK
        return self._recorder.call("storage", action, f"{bucket}/{key}", Code.DENIED, detail)

    def _failed(self, action: str, bucket: str, key: str, exc: OSError) -> Code:
        target = f"{bucket}/{key}"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return self._recorder.call("storage", action, target, Code.NOT_FOUND)
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            # O_NOFOLLOW met a symlink: an attempt to leave the bucket.
            return self._recorder.call(
                "storage", action, target, Code.DENIED, "symlinks are not followed"
            )
        if exc.errno == errno.EISDIR:
            return self._recorder.call("storage", action, target, Code.BAD_ARGUMENT, "a folder")
        return self._recorder.call("storage", action, target, Code.FAILED, exc.strerror or "")


def _read_file(root: int, key: str, cap: int) -> bytes | None:
    """The bytes of `key` under the folder `root`, or None when it holds more than `cap`."""
    fd, size = _open(root, key, os.O_RDONLY)
    try:
        if size > cap:
            return None
        data = os.read(fd, size)  # fstat's size: no read of the end, no buffer of `cap`
        if len(data) != size or not size:  # it changed since: read on to the end or the cap
            data = _read_on(fd, data, cap + 1)
    finally:
        os.close(fd)
    return None if len(data) > cap else data


def _replace(root: int, key: str, data: bytes, room: Callable[[int], bool]) -> tuple[int, bool]:
    """Write `data` as `key` under `root` if `room(growth)`: (growth in bytes, written)."""
    growth = len(data) - _size(root, key)
    if not room(growth):
        return growth, False
    fd, _ = _open(root, key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, create_dirs=True)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    return growth, True


def _list(root: int, prefix: str) -> list[str]:
    fd = _open_dir(root, prefix)
    try:
        return _entries(fd)
    finally:
        os.close(fd)


def _read_on(fd: int, start: bytes, limit: int) -> bytes:
    """`start` and what follows it in `fd`, at most `limit` bytes in all."""
    chunks = [start]
    size = len(start)
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _valid_key(key: str) -> bool:
    if not key or len(key) > MAX_KEY or "\0" in key:
        return False
    if "/" not in key:  # the common case: one name
        return key not in (".", "..")
    return not key.startswith("/") and all(part not in ("", ".", "..") for part in key.split("/"))


def _open_dir(root: int, folder: str, *, create: bool = False) -> int:
    """A new descriptor of `folder` under the descriptor `root`, walking one name at a
    time without following links."""
    fd = os.dup(root)
    for part in [p for p in folder.split("/") if p]:
        try:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o700, dir_fd=fd)
            next_fd = _open_component(part, fd)
        finally:
            os.close(fd)
        fd = next_fd
    return fd


def _open_component(name: str, dir_fd: int) -> int:
    """Open the folder `name` under `dir_fd`; a symlink there is ELOOP, whatever it points to."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except NotADirectoryError:
        if stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, "symlink") from None
        raise


def _open(root: int, key: str, flags: int, *, create_dirs: bool = False) -> tuple[int, int]:
    """(descriptor, size) of the regular file `key` under `root`; `OSError` otherwise."""
    folder, _, name = key.rpartition("/")
    if not folder:
        fd = os.open(name, flags | _FILE_FLAGS, 0o600, dir_fd=root)
    else:
        dir_fd = _open_dir(root, folder, create=create_dirs)
        try:
            fd = os.open(name, flags | _FILE_FLAGS, 0o600, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise OSError(errno.EISDIR, "not a regular file")
    return fd, info.st_size


def _size(root: int, key: str) -> int:
    folder, _, name = key.rpartition("/")
    try:
        dir_fd = _open_dir(root, folder)
    except FileNotFoundError:
        return 0
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return 0
    finally:
        os.close(dir_fd)
    if stat.S_ISLNK(info.st_mode):
        raise OSError(errno.ELOOP, "symlink")
    return info.st_size if stat.S_ISREG(info.st_mode) else 0


def _entries(fd: int) -> list[str]:
    names = []
    for name in os.listdir(fd):
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            names.append(f"{name}/")
        elif stat.S_ISREG(info.st_mode):
            names.append(name)
    return names


def bucket_bytes(path: Path) -> int:
    """Bytes held under `path`, symlinks not followed, at any depth: each regular file's
    size, and for every folder, link or other entry its size but at least one 4 KiB block
    (what a folder takes on disk), so that a module cannot fill the disk with folders its
    quota ignores. Everything the module wrote is counted, however deep it was nested.
    """
    total = 0

    def add(_folder: int, _name: str, info: os.stat_result) -> None:
        nonlocal total
        total += info.st_size if stat.S_ISREG(info.st_mode) else max(info.st_size, _BLOCK)

    with contextlib.suppress(FileNotFoundError):  # a bucket not made yet holds nothing
        visit(path, add)
    return total
