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
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from .codes import Code, HostResult
from .record import Recorder

__all__ = ["MAX_KEY", "Storage", "bucket_bytes"]

MAX_KEY = 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


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

    @property
    def used_bytes(self) -> int:
        """Bytes in the module's buckets, as the quota counts them."""
        return self._used

    def read(self, bucket: str, key: str, cap: int) -> HostResult:
        """The object's bytes; `too-large` when it is over `cap`."""
        code = self._check(bucket, key, "read", write=False)
        if code is not Code.OK:
            return HostResult(code)
        try:
            fd = _open(self._buckets[bucket], key, os.O_RDONLY)
        except OSError as exc:
            return HostResult(self._failed("read", bucket, key, exc))
        try:
            data = _read_up_to(fd, cap + 1)
        finally:
            os.close(fd)
        if len(data) > cap:
            return HostResult(
                self._recorder.call("storage", "read", f"{bucket}/{key}", Code.TOO_LARGE)
            )
        self._recorder.call("storage", "read", f"{bucket}/{key}", Code.OK)
        return HostResult(Code.OK, data)

    def write(self, bucket: str, key: str, data: bytes) -> HostResult:
        """Replace the object with `data`, creating folders on the way; checks the quota."""
        code = self._check(bucket, key, "write", write=True)
        if code is not Code.OK:
            return HostResult(code)
        target = f"{bucket}/{key}"
        root = self._buckets[bucket]
        try:
            self._used = sum(bucket_bytes(path) for path in self._buckets.values())
            old = _size(root, key)
            growth = len(data) - old
            if growth > 0 and self._used + growth > self._quota:
                detail = (
                    f"{self._used + growth:,} bytes would pass limits.storage ({self._quota:,})"
                )
                return HostResult(
                    self._recorder.call("storage", "write", target, Code.QUOTA, detail)
                )
            fd = _open(root, key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, create_dirs=True)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
        except OSError as exc:
            return HostResult(self._failed("write", bucket, key, exc))
        self._used += growth
        self._recorder.call("storage", "write", target, Code.OK)
        return HostResult(Code.OK, value=len(data))

    def list(self, bucket: str, prefix: str, cap: int) -> HostResult:
        """Keys under the folder `prefix` ("" for the bucket), one a line, folders ending in /."""
        code = self._check(bucket, prefix or ".", "list", write=False, folder=True)
        if code is not Code.OK:
            return HostResult(code)
        try:
            fd = _open_dir(self._buckets[bucket], prefix)
            try:
                names = sorted(_entries(fd))
            finally:
                os.close(fd)
        except OSError as exc:
            return HostResult(self._failed("list", bucket, prefix, exc))
        data = "".join(f"{name}\n" for name in names).encode()
        target = f"{bucket}/{prefix}"
        if len(data) > cap:
            return HostResult(self._recorder.call("storage", "list", target, Code.TOO_LARGE))
        self._recorder.call("storage", "list", target, Code.OK)
        return HostResult(Code.OK, data)

    def _check(
        self, bucket: str, key: str, action: str, *, write: bool, folder: bool = False
    ) -> Code:
        target = f"{bucket}/{key}"
        if bucket not in self._buckets:
            return self._recorder.call(
                "storage", action, target, Code.DENIED, f"no storage permission for {bucket!r}"
            )
        if write and bucket not in self._writable:
            return self._recorder.call(
                "storage", action, target, Code.DENIED, f"storage:read:{bucket} is read-only"
            )
        if not (folder and key == ".") and not _valid_key(key):
            return self._recorder.call(
                "storage", action, target, Code.DENIED, "a key must be a relative path of names"
            )
        return Code.OK

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


def _read_up_to(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _valid_key(key: str) -> bool:
    if not key or len(key) > MAX_KEY or "\0" in key or key.startswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in key.split("/"))


def _open_dir(root: Path, folder: str, *, create: bool = False) -> int:
    """A descriptor of `root/folder`, walking one name at a time without following links."""
    fd = os.open(root, _DIR_FLAGS)
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


def _open(root: Path, key: str, flags: int, *, create_dirs: bool = False) -> int:
    folder, _, name = key.rpartition("/")
    dir_fd = _open_dir(root, folder, create=create_dirs)
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EISDIR, "not a regular file")
    return fd


def _size(root: Path, key: str) -> int:
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
    """Bytes of the regular files under `path`, symlinks not followed."""
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            info = os.lstat(os.path.join(folder, name))
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total
