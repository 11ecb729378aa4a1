"""Budgets the WASM backend enforces without wasmtime: CPU share and output size.

See docs/abi.md, "What `cpu: 250m` means for a WASM module", for the model.
"""

from __future__ import annotations

import errno
import math
import threading
import time
from collections.abc import Callable

__all__ = ["FUEL_PER_CPU_SECOND", "CappedOutput", "CpuShare", "call_fuel"]

# One CPU-second of WebAssembly, in fuel units (about one per instruction); see docs/abi.md.
FUEL_PER_CPU_SECOND = 2_000_000_000
WINDOW_S = 1.0


def call_fuel(millicores: int, timeout_ms: int) -> int:
    """The fuel one call may use: `cores x timeout x FUEL_PER_CPU_SECOND`."""
    return max(1, millicores * timeout_ms * FUEL_PER_CPU_SECOND // 1_000_000)


class CpuShare:
    """A module's CPU share as a token bucket of fuel, refilled at `cores` CPU-seconds per second.

    `acquire()` waits while the bucket is in debt (throttling) and returns the wait in ms;
    `charge(fuel)` debits what a call used. Thread-safe.
    """

    def __init__(
        self,
        millicores: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._rate = millicores * FUEL_PER_CPU_SECOND / 1000  # fuel per second
        self._capacity = self._rate * WINDOW_S
        self._level = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self._capacity, self._level + (now - self._stamp) * self._rate)
        self._stamp = now

    def acquire(self, max_wait_ms: float) -> float | None:
        """Wait until the bucket is out of debt; the wait in ms, or None if over `max_wait_ms`."""
        with self._lock:
            self._refill()
            debt = -self._level
        if debt <= 0:
            return 0.0
        wait_s = debt / self._rate
        if wait_s * 1000 > max_wait_ms:
            return None
        self._sleep(wait_s)
        return wait_s * 1000

    def charge(self, fuel: int) -> None:
        """Debit the fuel a call used."""
        with self._lock:
            self._refill()
            self._level -= fuel

    @property
    def level(self) -> float:
        """Fuel left in the bucket (negative while in debt)."""
        with self._lock:
            self._refill()
            return self._level


class CappedOutput:
    """A WASI output sink that keeps at most `cap` bytes.

    Used as `WasiConfig.stdout_custom`: past the cap, returning a negative errno makes the
    guest's write fail with `EFBIG`, so a flooding module learns it at once instead of
    filling memory. With `drop=True` (stderr: logs must never break a module, and Rust's
    `eprintln!` panics on a failed write) writes past the cap succeed and are only counted
    in `dropped`.
    """

    def __init__(self, cap: int, *, drop: bool = False) -> None:
        self.cap = cap
        self.size = 0
        self.dropped = 0
        self.overflowed = False
        self._drop = drop
        self._parts: list[bytes] = []

    def __call__(self, data: bytes) -> int:
        room = self.cap - self.size
        if room <= 0 and data:
            if self._drop:
                self.dropped += len(data)
                return len(data)
            self.overflowed = True
            return -errno.EFBIG
        kept = data[:room]
        self._parts.append(kept)
        self.size += len(kept)
        if self._drop:
            self.dropped += len(data) - len(kept)
            return len(data)
        return len(kept)  # a short write; the next one fails

    def getvalue(self) -> bytes:
        """Everything kept so far."""
        return b"".join(self._parts)

    def reset(self) -> None:
        """Forget what was written (a reactor reuses its sinks across calls)."""
        self.size = 0
        self.dropped = 0
        self.overflowed = False
        self._parts.clear()


def ticks_for(timeout_ms: int, tick_ms: float) -> int:
    """Epoch ticks that cover `timeout_ms` (one more, since the first tick may come at once)."""
    return math.ceil(timeout_ms / tick_ms) + 1
