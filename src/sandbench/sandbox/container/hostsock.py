"""The host API for one container: `HostServer` on a unix socket in a private folder.

The folder (0700, `host/` in the container's `RunFolder`) holds only `host.sock`, and is
bind-mounted read-only at `/run/sandbench`; connecting to a socket needs no write access to the mount.
Run as root (which the container backend already needs for `setns`), the folder and the
socket are given to the sandbox user, so only that uid (and root) can reach them; the
socket is never world-writable. See docs/hostapi.md.

A limit on what a call may do through the host API is a `HostCheck` in `HostSocket.checks`:
the server asks each to `admit` every capability call (a refusal is recorded like any
denied call, detail `past limits.NAME`), and the instance starts each call with `begin`
and asks for its `violation` after it (instance.py).
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Protocol

import psutil

from sandbench._tree import remove_tree
from sandbench.hostapi import Code, HostApi, HostServer
from sandbench.hostapi.serve import ConnectionCap
from sandbench.manifests import ModulePackage
from sandbench.sandbox.host import host_api
from sandbench.sandbox.interface import Grants, SandboxLimits, Violation, hostcalls_violation

from .hardening import HOST_API_SOCKET, SANDBOX_USER

__all__ = ["HostCheck", "HostSocket", "sweep_host_folders"]

_PREFIX = "sandbench-host-"


class HostCheck(Protocol):
    """A per-call limit on one container instance's host API calls (`limit`: its LIMITS
    name). Thread-safe: `admit` runs on the server's threads while the call runs."""

    limit: str

    def begin(self) -> None:
        """A call starts: reset what is counted per call."""
        ...  # pragma: no cover

    def admit(self) -> Code | None:
        """One host call arrives: None serves it, a code refuses it with that code."""
        ...  # pragma: no cover

    def violation(self) -> Violation | None:
        """The violation of the call since `begin`, or None when the limit held."""
        ...  # pragma: no cover


class _HostCalls:
    """`limits.hostcalls`: the host API requests one call may make; past it each is answered
    `quota` (507) unserved, and the call gets a `hostcalls` violation (docs/hostapi.md)."""

    limit = "hostcalls"

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.used = self.refused = 0
        self._lock = threading.Lock()

    def begin(self) -> None:
        with self._lock:
            self.used = self.refused = 0

    def admit(self) -> Code | None:
        with self._lock:
            if self.used < self.allowed:
                self.used += 1
                return None
            self.refused += 1
            return Code.QUOTA

    def violation(self) -> Violation | None:
        if not self.refused:
            return None
        return hostcalls_violation(self.refused, self.allowed, "HTTP 507 quota")


def _checks(limits: SandboxLimits) -> tuple[HostCheck, ...]:
    """The host API's per-call limits for an instance under `limits`."""
    return (_HostCalls(limits.host_calls),)


class HostSocket:
    """One instance's `HostApi`, served at `folder/host.sock` until closed.

    Closing stops the server (joining its threads), closes the `HostApi` and removes the
    folder; closing twice is harmless. Raises `OSError` when the folder or socket cannot
    be made, or what building the `HostApi` raises (nothing is left behind then).
    """

    def __init__(
        self,
        package: ModulePackage,
        limits: SandboxLimits,
        grants: Grants,
        folder: Path,
        cap: ConnectionCap | None = None,
    ) -> None:
        self.folder = folder  # an empty folder of mode 0700, removed by `close`
        self.host: HostApi | None = None
        self.checks = _checks(limits)
        self._server: HostServer | None = None
        # A unix socket's path must fit in 108 bytes; a deep temp folder's may not.
        # The folder's descriptor names it in a few: /proc/self/fd/N/host.sock.
        self._fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self.host = host_api(package, limits, grants)
            short = Path(f"/proc/self/fd/{self._fd}/{HOST_API_SOCKET}")
            admit = self._admit if self.checks else None
            self._server = HostServer(self.host, short, cap, admit)
            self.cap: ConnectionCap = self._server.cap
            _give_to_sandbox_user(self.folder, self.folder / HOST_API_SOCKET)
        except BaseException:
            self.close()
            raise

    def _admit(self, capability: str, action: str) -> Code | None:
        """The first refusal among `checks` (each sees the call only if none before it
        refused it), recorded as a denied call."""
        for check in self.checks:
            code = check.admit()
            if code is not None:
                if self.host is not None:
                    detail = f"past limits.{check.limit}"
                    self.host.recorder.call(capability, action, "", code, detail)
                return code
        return None

    def close(self) -> None:
        """Stop serving, release the capabilities, remove the folder (even when interrupted)."""
        server, host, self._server, self.host = self._server, self.host, None, None
        try:
            if server is not None:
                server.close()
            if host is not None:
                host.close()
        finally:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            remove_tree(self.folder)


def _give_to_sandbox_user(folder: Path, socket_path: Path) -> None:
    """Folder and socket to uid 65534 (root only; elsewhere the engine's user is ours)."""
    if os.geteuid() != 0:
        return
    os.chown(socket_path, *SANDBOX_USER)
    os.chown(folder, *SANDBOX_USER)


def sweep_host_folders() -> int:
    """Remove socket folders an older sandbench left in the temp folder (`sandbench-host-
    PID-*`, before run folders) whose owner process is gone; return how many.

    A folder whose pid runs (even if reused by another process) is kept: never too eager.
    """
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*-*"):
        pid = folder.name.removeprefix(_PREFIX).partition("-")[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            remove_tree(folder)
            removed += 1
    return removed
