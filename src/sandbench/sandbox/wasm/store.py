"""Store set-up for one WASM call: limits, WASI config, output caps, fuel and deadline.

Every ABI (command, reactor, component) makes its stores here: `new_call` builds a store
with the instance's limits and grants, and the `Call` it returns arms each call's fuel
budget and epoch deadline and reads the CPU the call used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import wasmtime

from sandbench.errors import SandboxError
from sandbench.hostapi import HostApi
from sandbench.sandbox.budget import CappedOutput, ModuleCpu, thread_cpu_s, ticks_for
from sandbench.sandbox.interface import Grants, SandboxLimits

from .engines import TABLE_ELEMENTS
from .fastcall import StoreMeter
from .guards import GuardState, LimitGuard, arm_all
from .poll import PollState
from .wasi import wasi_config

__all__ = ["STDERR_CAP", "TICK_MS", "Call", "Spec", "instance_pre", "new_call"]

TICK_MS = 10.0
STDERR_CAP = 16 * 1024


@dataclass(kw_only=True)
class Spec:
    """Everything an instance needs to make stores (`pre`: core modules only)."""

    engine: wasmtime.Engine
    pre: wasmtime.InstancePre | None = None
    name: str
    limits: SandboxLimits
    grants: Grants
    cpu: ModuleCpu
    host: HostApi | None = None
    writes_files: bool = False
    guards: tuple[LimitGuard, ...] = ()  # the limits enforced by host functions (guards.py)
    # False when the module imports neither `poll_oneoff` nor `fd_write`, the WASI calls the
    # sandbox serves from the call's `PollState` (poll.py, stdio.py): then that state is
    # neither armed nor scoped.
    call_state: bool = True
    # Epoch ticks already due but not yet added by the backend's ticker (`native.Ticker`).
    epoch_lag: Callable[[], int] = lambda: 0
    # That ticker's native handle: the native reactor call adds its owed ticks itself.
    epoch_ticker: object = None


@dataclass
class Call:
    """Book-keeping for calls into one store."""

    store: wasmtime.Store
    stdout: CappedOutput
    stderr: CappedOutput
    poll: PollState
    meter: StoreMeter
    guards: tuple[GuardState, ...] = ()  # one per guard of the spec (guards.py)
    call_state: bool = True  # see `Spec.call_state`
    fuel: int = 0
    fuel_left: int = -1  # as the native call read it (native.py); -1: ask the store
    started: float = 0.0
    cpu_started: float = 0.0
    cpu_s: float | None = None
    wall_s: float = -1.0  # as the native call measured it; -1: from `started`
    charged: bool = False  # the native call charged `cpu_s` to the module's share itself

    def arm(self, timeout_ms: int, fuel: int, stdin_bytes: int = 0, lag: int = 0) -> None:
        """Set the fuel and the deadline for the next call, and start the clocks; `lag` is
        the epoch ticks already due but not yet added (they do not count against the call).

        Call it inside `poll.scoped()`: sleeping (`poll_oneoff`) is bounded by this deadline.
        """
        self.arm_host(timeout_ms, fuel, stdin_bytes)
        self.meter.set(fuel, ticks_for(timeout_ms, TICK_MS) + lag)
        self.cpu_s = None
        self.fuel_left = -1
        self.wall_s = -1.0
        self.charged = False
        self.started = time.perf_counter()
        self.cpu_started = thread_cpu_s()

    def arm_host(self, timeout_ms: int, fuel: int, stdin_bytes: int = 0) -> None:
        """The part of `arm` the host functions read (the poll state, the guards); a native
        call (native.py) sets the store's fuel and deadline and reads the clocks itself,
        then hands them to `measured`."""
        self.fuel = fuel
        if self.call_state:
            self.poll.arm(timeout_ms, stdin_bytes)
        if self.guards:
            arm_all(self.guards)

    def measured(self, wall_s: float, cpu_s: float, fuel_left: int, charged: bool) -> None:
        """What a native call measured: the seconds it took on the monotonic clock and on
        the thread's CPU clock (`stop` returns the latter), the fuel left (-1: not read),
        and whether it charged its CPU to the module's share itself."""
        self.wall_s = wall_s
        self.cpu_s = cpu_s
        self.fuel_left = fuel_left
        self.charged = charged

    def stop(self) -> float:
        """The thread CPU-seconds since `arm`, read at the first `stop` after it."""
        if self.cpu_s is None:
            self.cpu_s = thread_cpu_s() - self.cpu_started
        return self.cpu_s

    def fuel_used(self) -> int:
        return self.fuel - (self.fuel_left if self.fuel_left >= 0 else self.meter.fuel())


def new_call(
    spec: Spec, env: list[tuple[str, str]], stdin: bytes | None = None, *, component: bool = False
) -> Call:
    """A store with the limits, WASI config and fuel for one call (or one live instance);
    `stdin` is what the module reads on descriptor 0 (the request body, from memory).

    A core module's stdout and stderr reach the call's capped sinks through the backend's
    own `fd_write` (stdio.py); WASI's are its sink. A component is several core instances,
    tables and memories; `memory_size` caps each memory. Its stdout and stderr are WASI's
    sink: the guest's entry sends Python's `print` to the host log.
    """
    limits = spec.limits
    store = wasmtime.Store(spec.engine)
    # Tables are host memory that `memory_size` does not count: without a cap on their
    # elements a reactor's `table.grow` took the process to 1 GB under a 16 MB limit (the
    # pooling engine of command modules has the same cap).
    size, elements = limits.memory_bytes, TABLE_ELEMENTS
    if component:
        store.set_limits(size, elements, instances=64, tables=64, memories=8)
    else:
        # Two instances: the module and one helper a guard may add (files.py's adapter).
        store.set_limits(size, elements, instances=2, tables=4, memories=1)
    stdout, stderr = CappedOutput(limits.output_bytes), CappedOutput(STDERR_CAP, drop=True)
    wasi = wasi_config(spec.name, env, stdin or b"")
    for bucket, path in spec.grants.storage_read.items():
        wasi.preopen_dir(str(path), f"/storage/{bucket}", fs_mutable=False)
    for bucket, path in spec.grants.storage_write.items():
        wasi.preopen_dir(str(path), f"/storage/{bucket}", fs_mutable=True)
    store.set_wasi(wasi)
    # After set_wasi: WASI's monotonic clock starts there (see PollState.origin_ns).
    poll = PollState(store=store, stdout=stdout, stderr=stderr, origin_ns=time.monotonic_ns())
    guards = tuple(guard.state(limits) for guard in spec.guards)
    meter = StoreMeter(store)
    return Call(
        store=store,
        stdout=stdout,
        stderr=stderr,
        poll=poll,
        meter=meter,
        guards=guards,
        call_state=spec.call_state,
    )


def instance_pre(spec: Spec) -> wasmtime.InstancePre:
    """The core module's `InstancePre` (a component's spec has none)."""
    if spec.pre is None:  # pragma: no cover - the backend always sets it for core modules
        raise SandboxError("a core module instance needs its InstancePre")
    return spec.pre
