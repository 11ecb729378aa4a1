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

from .interface import CPU_WINDOW_S

__all__ = [
    "FUEL_PER_CPU_SECOND_MAX",
    "CappedOutput",
    "CpuShare",
    "FuelRate",
    "ModuleCpu",
    "share_budgets",
    "thread_cpu_s",
]

# The most fuel per real CPU-second seen on the reference machine (a counted i32 loop,
# 2.2e10; FIELD-NOTES "Fuel is not CPU time"), rounded up. A module's first calls get fuel
# at this rate, so no ordinary code is stopped for `cpu` before its own rate is known.
FUEL_PER_CPU_SECOND_MAX = 25_000_000_000
WINDOW_S = CPU_WINDOW_S  # the bucket holds this many seconds of the share
# A call lowers a module's rate only when it says something about the module's code: at
# least this much CPU (else the clock's resolution and the per-call overhead dominate) and
# this much fuel (else its CPU was the host's: instantiation, the CGI envelope, host calls,
# or a tick the machine took from it; 1e6 fuel is 0.05-0.4 ms of wasm at the rates above).
MIN_SAMPLE_S = 0.002
MIN_SAMPLE_FUEL = 1_000_000
EWMA_WEIGHT = 0.5


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

    Starts at `FUEL_PER_CPU_SECOND_MAX`. A call's CPU holds the host's too (instantiation,
    the envelope, host calls, a tick a busy machine took from the thread), so its fuel per
    CPU-second never overstates the code's: a faster-burning call raises the estimate at
    once, however short. A slower one lowers it only when it used at least `MIN_SAMPLE_S`
    of CPU and `MIN_SAMPLE_FUEL` of fuel: the first such call replaces the initial guess,
    later ones move it by an exponentially weighted average. A module's rate varies from
    call to call (a loop around host calls burns little fuel per CPU-second, straight code
    much more): an estimate too low stops ordinary calls before their CPU budget (a `cpu`
    violation the machine caused, not the module), one too high lets a call run past it,
    which the measured CPU share (`CpuShare`) then charges and throttles. So one slow call
    of a module that burns almost no fuel (a command module's CPU is mostly its
    instantiation) can no longer starve every later call of fuel, and a call stopped
    early heals the estimate for the next.
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
        """Fold in one call that used `fuel` in `cpu_s` CPU-seconds (see the class)."""
        if fuel <= 0 or cpu_s <= 0:
            return
        sample = fuel / cpu_s
        with self._lock:
            if sample > self._rate:
                self._rate = sample
            elif cpu_s < MIN_SAMPLE_S or fuel < MIN_SAMPLE_FUEL:
                return
            elif self._samples == 0:
                self._rate = sample
            else:
                self._rate += EWMA_WEIGHT * (sample - self._rate)
            self._samples += 1


_BUCKET = struct.Struct("=dd")  # empty_at (monotonic s), charged (CPU-s): see CpuShare


def _bucket_memory(shared: Path | None, empty_at: float) -> mmap.mmap:
    """The 16 bytes of a bucket: this process's own (anonymous), or those of the file
    `shared`, which every process using it maps. The first to open the file writes
    `empty_at` into it under an exclusive `flock` (creation only; charges take no lock);
    the others find the bucket there. Raises `OSError` when it cannot be created or mapped.
    """
    if shared is None:
        memory = mmap.mmap(-1, _BUCKET.size)
        _BUCKET.pack_into(memory, 0, empty_at, 0.0)
        return memory
    fd = os.open(shared, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_size < _BUCKET.size:
            os.pwrite(fd, _BUCKET.pack(empty_at, 0.0), 0)
        return mmap.mmap(fd, _BUCKET.size)  # the mapping outlives the descriptor
    finally:
        # Unlocked explicitly: the mapping keeps a duplicate of `fd`, which would hold it.
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


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
    `charge(cpu_s)` debits the CPU a call used. Thread-safe and, with a `shared` file,
    process-safe, without a lock: the bucket is GCRA's form of it (the bucket section of
    `wasm/_native.c`), two doubles updated by compare-and-swap: the monotonic time at which
    it is empty and the CPU-seconds charged so far. `bucket`, `rate` and `WINDOW_S` are
    what the native reactor call takes to check and charge the share itself; it reads the
    monotonic clock, so only a share on that clock (`native`) may be handed to it.
    """

    def __init__(
        self,
        millicores: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        shared: Path | None = None,
    ) -> None:
        from sandbench.sandbox.wasm import _native  # here: the wasm package imports this one

        self.rate = millicores / 1000  # CPU-seconds per second
        self._capacity = self.rate * WINDOW_S
        self._clock = clock
        self._sleep = sleep
        self._charge = _native.bucket_charge
        self._wait = _native.bucket_wait
        self.native = clock is time.monotonic
        self.bucket = _bucket_memory(shared, clock() - WINDOW_S)  # full: a window's worth
        self._state = memoryview(self.bucket).cast("d")  # [empty_at, charged]

    def acquire(self, max_wait_ms: float) -> float | None:
        """Wait until the bucket is out of debt; the wait in ms, or None if over `max_wait_ms`.

        The debt is read again after each wait: calls of other instances (and, shared, of
        other processes) that were running meanwhile have charged theirs, and a call must
        wait for those too (else N instances would each pay off only their own debt and
        run N times the share). A charge that lands just after the check is waited for by
        the next calls, as for a call that had acquired just before it: the share over
        time holds.
        """
        wait_s = self._wait(self.bucket, self._clock(), self.rate)
        waited = 0.0
        while wait_s:
            if (waited + wait_s) * 1000 > max_wait_ms:
                return None
            self._sleep(wait_s)
            waited += wait_s
            wait_s = self._wait(self.bucket, self._clock(), self.rate)
        return waited * 1000

    def charge(self, cpu_s: float) -> None:
        """Debit the CPU-seconds a call used."""
        self._charge(self.bucket, self._clock(), cpu_s, self.rate, WINDOW_S)

    @property
    def level(self) -> float:
        """CPU-seconds left in the bucket (negative while in debt)."""
        return min(self._capacity, (self._clock() - self._state[0]) * self.rate)

    @property
    def charged(self) -> float:
        """Every CPU-second charged so far (by every process sharing the bucket)."""
        charged: float = self._state[1]
        return charged


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
        if learn:
            self.learn(fuel, cpu_s)

    def learn(self, fuel: int, cpu_s: float) -> None:
        """Learn the rate from a call whose CPU was charged already (the native reactor
        call charges it itself)."""
        # Most calls teach nothing (`FuelRate.learn`): skip its frame and lock for them.
        if (fuel >= MIN_SAMPLE_FUEL and cpu_s >= MIN_SAMPLE_S) or fuel > cpu_s * self.rate.rate:
            self.rate.learn(fuel, cpu_s)


def _shared_path(key: tuple[object, ...] | None) -> Path | None:
    folder = _shared["folder"]
    if folder is None or key is None:
        return None
    # "gcra": the bucket's layout (CpuShare), so that no file of another layout is read.
    return folder / hashlib.sha256(repr(("gcra", key)).encode()).hexdigest()[:32]


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
