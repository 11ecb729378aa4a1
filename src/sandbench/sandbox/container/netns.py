"""Sockets inside a container's network namespace, opened from this process.

A container runs with `network_mode="none"`: its namespace has only `lo`, so it has no
route anywhere, not to the host, the bridge gateway or the internet. sandbench still has to
reach the module's port and, for `api:external:HOST`, offer it a proxy. It does both the
same way: one worker thread joins the container's network namespace with `setns(2)`
(a per-thread attribute on Linux) and opens sockets there; a socket keeps the namespace
it was created in, so the rest of sandbench uses it from ordinary threads.

`setns` into another namespace needs CAP_SYS_ADMIN (root), which driving a Docker Engine
as root already implies.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.thread import BrokenThreadPool

from sandbench.errors import SandboxError
from sandbench.sandbox.interface import Closing

__all__ = ["NetnsDialer"]

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


class NetnsDialer(Closing):
    """Opens TCP sockets on `127.0.0.1` inside the network namespace of process `pid`.

    Raises `SandboxError` when the namespace cannot be joined (not root, process gone).
    """

    def __init__(self, pid: int) -> None:
        try:
            self._fd: int | None = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise SandboxError(
                f"cannot open the network namespace of container process {pid}: {exc.strerror}"
            ) from None
        self._worker = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sandbench-netns", initializer=self._join
        )

    def _join(self) -> None:
        if _libc.setns(self._fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))

    def _call(self, function: Callable[..., socket.socket], *args: object) -> socket.socket:
        try:
            return self._worker.submit(function, *args).result()
        except BrokenThreadPool:
            raise SandboxError(
                "cannot join the container's network namespace (setns needs root)"
            ) from None

    def connect(self, port: int, timeout: float) -> socket.socket:
        """A socket connected to `127.0.0.1:port` in the namespace; raises `OSError`."""
        sock = self._call(socket.create_connection, ("127.0.0.1", port), timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def listen(self, port: int) -> socket.socket:
        """A socket listening on `127.0.0.1:port` in the namespace; raises `OSError`."""
        return self._call(socket.create_server, ("127.0.0.1", port))

    def close(self) -> None:
        """Stop the worker thread and drop the namespace. Closing twice is harmless."""
        self._worker.shutdown(wait=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
