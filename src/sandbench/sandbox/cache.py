"""An on-disk cache of compiled artifacts, keyed by the caller.

Deserializing a compiled artifact trusts its bytes, so the cache folder must be private:
it is created with mode 0700 and refused when another user owns it or others may write to
it. Entries are written to a temporary file and renamed into place, so a reader never sees
half an artifact and concurrent writers (several processes of a nightly run) do not clash.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from sandbench.errors import SandboxError

__all__ = ["ArtifactCache", "default_cache_dir"]


def default_cache_dir() -> Path:
    """`$SANDBENCH_CACHE_DIR`, else `$XDG_CACHE_HOME/sandbench`, else `~/.cache/sandbench`."""
    if explicit := os.environ.get("SANDBENCH_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sandbench"


class ArtifactCache:
    """Files named by key under one private folder."""

    def __init__(self, directory: Path, suffix: str) -> None:
        self.directory = directory
        self._suffix = suffix
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = directory.stat()
        except OSError as exc:
            raise SandboxError(
                f"cache folder {directory} cannot be created: {exc.strerror}; "
                "set SANDBENCH_CACHE_DIR to a writable folder"
            ) from None
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise SandboxError(
                f"cache folder {directory} is not private (owned by another user or writable "
                "by others); compiled code from it cannot be trusted. "
                f"Run `chmod 700 {directory}` or set SANDBENCH_CACHE_DIR"
            )

    def path(self, key: str) -> Path:
        """Where the entry for `key` lives (whether or not it exists)."""
        return self.directory / f"{key}{self._suffix}"

    def get(self, key: str) -> Path | None:
        """The entry's path if it exists."""
        path = self.path(key)
        return path if path.is_file() else None

    def put(self, key: str, data: bytes | bytearray) -> None:
        """Store `data` for `key` atomically. A failure to write is not fatal: it is a miss."""
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=self._suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, self.path(key))
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def discard(self, key: str) -> None:
        """Remove the entry for `key` (e.g. when it no longer deserializes)."""
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()
