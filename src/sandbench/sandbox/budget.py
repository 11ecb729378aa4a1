"""Budgets the WASM backend enforces without wasmtime: CPU share and output size.

See docs/abi.md, "What `cpu: 250m` means for a WASM module", for the model: a module's CPU
is the invoking thread's CPU time, measured around each call; `CpuShare` is its token
bucket in CPU-seconds; `FuelRate` turns a call's CPU budget into the fuel that stops it,
from the module's own measured fuel per CPU-second; `ModuleCpu` is the pair, one per
module, shared by all its instances.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import math
import mmap
import os
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from .interface import CPU_WINDOW_S

__all__ = [
    "FUEL_PER_CPU_SECOND_MAX",
    "CappedOutput",
    "CpuShare",
    "FuelRate",
    "ModuleCpu",
    "SharedBucket",
    "share_budgets",
    "thread_cpu_s",
]

# The most fuel per real CPU-second seen on the reference machine (a counted i32 loop,
# 2.2e10; FIELD-NOTES "Fuel is not CPU time"), rounded up. A module's first calls get fuel
# at this rate, so no ordinary code is stopped for `cpu` before its own rate is known.
FUEL_PER_CPU_SECOND_MAX = 25_000_000_000
WINDOW_S = CPU_WINDOW_S  # the bucket holds this many seconds of the share
# Calls shorter than this say little about a module's rate: the clock's resolution and the
# per-call overhead (instantiation, the CGI envelope) dominate them.
MIN_SAMPLE_S = 0.002
EWMA_WEIGHT = 0.5
# A debt this small is paid: what a wait of exactly debt/rate leaves in floating point.
_PAID = 1e-9


# The calling thread's CPU time in seconds (its POSIX thread CPU clock).
#
# wasmtime runs guest code on the calling thread with the GIL released, so the difference
# around a call is the module's CPU plus the host's small per-call overhead, unaffected by
# other threads or by time spent waiting for a core. `CLOCK_THREAD_CPUTIME_ID` is the
# clock `pthread_getcpuclockid(pthread_self())` names, read in one call (half the cost of
# looking the clock up each time). `time.thread_time` itself, not a function around it:
# the frame cost a fifth of the reading, on a path that runs twice a call.
thread_cpu_s: Callable[[], float] = time.thread_time


class FuelRate:
    """A module's fuel per CPU-second, learnt from its own calls. Thread-safe.

    Starts at `FUEL_PER_CPU_SECOND_MAX`; the first call of at least `MIN_SAMPLE_S` replaces
    it with the measured rate. Later ones move it asymmetrically: a faster-burning call
    raises it at once, a slower one lowers it by an exponentially weighted average. A
    module's rate varies from call to call (a loop around host calls burns little fuel per
    CPU-second, straight code much more): an estimate too low stops ordinary calls before
    their CPU budget, one too high lets a call run past it, which the measured CPU share
    (`CpuShare`) then charges and throttles.
    """

    def __init__(self, initial: float = FUEL_PER_CPU_SECOND_MAX) -> None:
        self._rate = float(initial)
        self._samples = 0
        self._lock = threading.Lock()

    @property
    def rate(self) -> float:
        """The current estimate, in fuel per CPU-second."""
        return self._rate

    @property
    def samples(self) -> int:
        """How many calls the estimate was learnt from (0: still the initial rate)."""
        return self._samples

    def fuel_for(self, cpu_s: float) -> int:
        """The fuel that lasts about `cpu_s` CPU-seconds of this module's code."""
        return max(1, int(cpu_s * self._rate))

    def learn(self, fuel: int, cpu_s: float) -> None:
        """Fold in one call that used `fuel` in `cpu_s` CPU-seconds (short calls are ignored)."""
        if cpu_s < MIN_SAMPLE_S or fuel <= 0:
            return
        sample = fuel / cpu_s
        with self._lock:
            first = self._samples == 0
            if first or sample > self._rate:
                self._rate = sample
            else:
                self._rate += EWMA_WEIGHT * (sample - self._rate)
            self._samples += 1


class _Bucket:
    """A token bucket's state, in this process only; `with bucket:` holds its lock."""

    def __init__(self, level: float, stamp: float) -> None:
        self.level = level
        self.stamp = stamp
        self.charged = 0.0
        self.lock = threading.Lock()

    def __enter__(self) -> _Bucket:
        self.lock.acquire()
        return self

    def credit(self) -> float:
        """The level as last written, read without the lock (see `CpuShare.acquire`)."""
        return self.level

    def __exit__(self, *_: object) -> None:
        self.lock.release()


class SharedBucket:
    """A token bucket's state in a file that every process using it maps: `with bucket:`
    holds it (a thread lock, then an exclusive `flock` on the file) and reads it; leaving
    the block writes it back.

    The first process to open `path` writes `level` and `stamp` into it; the others find
    them there. Stamps are `time.monotonic()` values, one clock for all processes of the
    machine. The file stays open and mapped for the process's life (one per module).
    Raises `OSError` when `path` cannot be created or mapped.
    """

    _LAYOUT = struct.Struct("=ddd")  # level, stamp, charged
    _LEVEL = struct.Struct("=d")

    def __init__(self, path: Path, level: float, stamp: float) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._lock = threading.Lock()
        self.level, self.stamp, self.charged = level, stamp, 0.0
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            if os.fstat(self._fd).st_size < self._LAYOUT.size:
                os.pwrite(self._fd, self._LAYOUT.pack(level, stamp, 0.0), 0)
            self._map = mmap.mmap(self._fd, self._LAYOUT.size)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def credit(self) -> float:
        """The level as last written by any process, read without the locks (see
        `CpuShare.acquire`): an 8-byte copy from the start of the page, which x86-64 and
        arm64 make in one load, never half of one write and half of another."""
        level: float = self._LEVEL.unpack_from(self._map)[0]
        return level

    def __enter__(self) -> SharedBucket:
        self._lock.acquire()
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.level, self.stamp, self.charged = self._LAYOUT.unpack_from(self._map)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._LAYOUT.pack_into(self._map, 0, self.level, self.stamp, self.charged)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._lock.release()


_shared: dict[str, Path | None] = {"folder": None}


def share_budgets(folder: Path | None) -> None:
    """From now on, this process keeps each module's CPU bucket in `folder` (shared with
    every process given the same folder), or in its own memory again (None).

    Applies to the `ModuleCpu` made afterwards; `sandbench serve --workers` calls it in
    each worker before loading anything.
    """
    _shared["folder"] = folder


class CpuShare:
    """A module's CPU share as a token bucket of CPU-seconds, refilled at `cores` per second.

    `acquire()` waits while the bucket is in debt (throttling) and returns the wait in ms;
    `charge(cpu_s)` debits the CPU a call used. Thread-safe; with a `shared` file, also
    process-safe (`SharedBucket`).
    """

    def __init__(
        self,
        millicores: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        shared: Path | None = None,
    ) -> None:
        self._rate = millicores / 1000  # CPU-seconds per second
        self._capacity = self._rate * WINDOW_S
        self._clock = clock
        self._sleep = sleep
        self._bucket: _Bucket | SharedBucket = (
            _Bucket(self._capacity, clock())
            if shared is None
            else SharedBucket(shared, self._capacity, clock())
        )
        self._local_lock = self._bucket.lock if isinstance(self._bucket, _Bucket) else None

    def _refill(self, bucket: _Bucket | SharedBucket) -> None:
        now = self._clock()
        bucket.level = min(self._capacity, bucket.level + (now - bucket.stamp) * self._rate)
        bucket.stamp = now

    def acquire(self, max_wait_ms: float) -> float | None:
        """Wait until the bucket is out of debt; the wait in ms, or None if over `max_wait_ms`.

        The debt is read again after each wait: calls of other instances (and, shared, of
        other processes) that were running meanwhile have charged theirs, and a call must
        wait for those too (else N instances would each pay off only their own debt and
        run N times the share).

        A bucket in credit (its level as last written is not below zero: refilling only adds)
        is seen without taking its locks, the thread lock and, shared, the file lock: that
        saves two `flock` calls per request in `sandbench serve --workers`. A charge that
        lands at that very instant is not waited for by this call but by the next ones, as
        for a call that had acquired just before it: every charge is still made under the
        locks, so the share over time holds.
        """
        if self._bucket.credit() >= -_PAID:  # out of debt when last written
            return 0.0
        waited = 0.0
        while True:
            with self._bucket as bucket:
                self._refill(bucket)
                debt = -bucket.level
            if debt <= _PAID:
                return waited * 1000
            wait_s = debt / self._rate
            if (waited + wait_s) * 1000 > max_wait_ms:
                return None
            self._sleep(wait_s)
            waited += wait_s

    def charge(self, cpu_s: float) -> None:
        """Debit the CPU-seconds a call used."""
        # A bucket of this process is held by its lock alone (`with bucket` is two Python
        # calls more, on every call's path); a shared one reads the file as it is entered.
        with self._bucket if self._local_lock is None else self._local_lock:
            bucket = self._bucket
            self._refill(bucket)
            bucket.level -= cpu_s
            bucket.charged += cpu_s

    @property
    def level(self) -> float:
        """CPU-seconds left in the bucket (negative while in debt)."""
        with self._bucket as bucket:
            self._refill(bucket)
            return bucket.level

    @property
    def charged(self) -> float:
        """Every CPU-second charged so far (by every process sharing the bucket)."""
        with self._bucket as bucket:
            return bucket.charged


class ModuleCpu:
    """One module's CPU accounting, shared by all its instances: the share and the rate.

    A call's CPU budget is `cores x timeout`; its fuel is that budget at the module's rate
    (`rate` may be shared with the same module's accounting under other limits: the rate is
    a property of the code). `share` may be too (the same module and cpu limit under
    another timeout); else `key` names the module and its cpu limit, and with
    `share_budgets` on the share is the one every process keeps under that key.
    """

    def __init__(
        self,
        millicores: int,
        timeout_ms: int,
        rate: FuelRate | None = None,
        key: tuple[object, ...] | None = None,
        share: CpuShare | None = None,
    ) -> None:
        self.millicores = millicores
        self.call_budget_s = millicores * timeout_ms / 1_000_000
        self.share = share if share is not None else CpuShare(millicores, shared=_shared_path(key))
        self.rate = rate if rate is not None else FuelRate()

    def call_fuel(self) -> int:
        """The fuel for one call (or one instantiation): its CPU budget at the learnt rate."""
        return self.rate.fuel_for(self.call_budget_s)

    def settle(self, fuel: int, cpu_s: float, *, learn: bool = True) -> None:
        """Charge a finished call's CPU to the share and learn the rate from it.

        `learn=False` for a live instance's instantiation: mostly the host's work (an 18 MB
        component's memory image costs about 100 ms of CPU and almost no fuel), which says
        nothing about the fuel rate of the calls that follow.
        """
        self.share.charge(cpu_s)
        if learn and cpu_s >= MIN_SAMPLE_S:  # `learn` ignores shorter calls: skip the call
            self.rate.learn(fuel, cpu_s)


def _shared_path(key: tuple[object, ...] | None) -> Path | None:
    folder = _shared["folder"]
    if folder is None or key is None:
        return None
    return folder / hashlib.sha256(repr(key).encode()).hexdigest()[:32]


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
