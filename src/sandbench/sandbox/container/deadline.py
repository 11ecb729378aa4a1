"""A socket whose every operation shares one deadline: a bound on a whole HTTP exchange.

A per-read timeout bounds nothing a module controls: one byte every half second keeps
each read short and the exchange endless. `DeadlineSocket` wraps a connected socket; once
`deadline` is set, every send and every read (through `makefile`, which `http.client`
uses for the status line, the headers and the body) waits at most the time left, and
raises `TimeoutError` when none is. No thread, no timer: the bound is in each call.
"""

from __future__ import annotations

import io
import math
import socket
import time
from typing import Any

__all__ = ["DeadlineSocket"]


class DeadlineSocket:
    """`sock` with a deadline (`time.monotonic()` seconds) over all its sends and reads.

    Only what `http.client.HTTPConnection` calls is provided: `sendall`, `makefile("rb")`,
    `setsockopt`, `close`. Raises `TimeoutError` once the deadline has passed.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.deadline = math.inf

    def left(self) -> float:
        """Seconds until the deadline; raises `TimeoutError` when it has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the deadline of the exchange has passed")
        return min(left, 3600.0)

    def sendall(self, data: Any) -> None:
        # Since Python 3.5 a timeout bounds the whole sendall, not each send.
        self.sock.settimeout(self.left())
        self.sock.sendall(data)

    def makefile(self, mode: str = "rb", *_: object, **__: object) -> io.BufferedReader:
        if mode != "rb":
            raise ValueError(f"DeadlineSocket reads only (mode {mode!r})")
        return io.BufferedReader(_Reader(self))

    def setsockopt(self, *args: Any) -> None:
        self.sock.setsockopt(*args)

    def close(self) -> None:
        self.sock.close()


class _Reader(io.RawIOBase):
    def __init__(self, owner: DeadlineSocket) -> None:
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._owner.sock.settimeout(self._owner.left())
        return self._owner.sock.recv_into(buffer)
