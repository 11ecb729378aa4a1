"""Instances of the core WASM ABIs (docs/abi.md) and the mapping of traps to violations.

An instance serves one call at a time (a lock serializes concurrent callers). Every call
runs under its fuel budget and epoch deadline; whatever the module does ends in an
`Outcome`, never in an exception. The CPU a call used is the invoking thread's CPU time
around it; it is charged to the module's `ModuleCpu`, which every instance of the module
shares, and teaches it the module's fuel per CPU-second (docs/abi.md).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wasmtime

from sandbench.errors import SandboxError
from sandbench.hostapi import Activity, HostApi
from sandbench.hostapi.storage import bucket_bytes
from sandbench.sandbox.budget import CappedOutput, ModuleCpu, thread_cpu_s, ticks_for
from sandbench.sandbox.cgi import (
    ProtocolError,
    cgi_environment,
    parse_cgi_response,
    request_envelope,
)
from sandbench.sandbox.construct import built
from sandbench.sandbox.host import with_activity
from sandbench.sandbox.interface import (
    Closing,
    Grants,
    Outcome,
    Request,
    Response,
    SandboxLimits,
    Usage,
    Violation,
    ViolationKind,
)

from .fastcall import FastExport, LinearMemory, fast_export
from .files import FileSlots, counted, own_context
from .host import bound
from .poll import PollState, scoped

__all__ = [
    "REACTOR_EXPORTS",
    "TICK_MS",
    "WASI",
    "CommandInstance",
    "Persistent",
    "ReactorInstance",
    "Spec",
    "first_line",
]

TICK_MS = 10.0
STDERR_CAP = 16 * 1024
WASI = "wasi_snapshot_preview1"
REACTOR_EXPORTS = ("memory", "sandbench_alloc", "sandbench_handle")
_WHAT = {
    "instantiate": "instantiation (its start function or _initialize)",
    "invoke": "the request",
}
_serial = itertools.count()
_OUTCOME_DEFAULTS = {"host": Activity()}


@dataclass(kw_only=True)
class Spec:
    """Everything an instance needs to make stores (`pre`: core modules only)."""

    engine: wasmtime.Engine
    pre: wasmtime.InstancePre | None = None
    name: str
    limits: SandboxLimits
    grants: Grants
    cpu: ModuleCpu
    scratch: Path
    host: HostApi | None = None
    writes_files: bool = False
    # Epoch ticks already due but not yet added by the backend's ticker (see `_Ticker`).
    epoch_lag: Callable[[], int] = lambda: 0


@dataclass
class _Call:
    """Book-keeping for calls into one store."""

    store: wasmtime.Store
    stdout: CappedOutput
    stderr: CappedOutput
    poll: PollState
    files: FileSlots | None
    fuel: int = 0
    started: float = 0.0
    cpu_started: float = 0.0
    cpu_s: float | None = None

    def arm(self, timeout_ms: int, fuel: int, stdin_bytes: int = 0, lag: int = 0) -> None:
        """Set the fuel and the deadline for the next call, and start the clocks; `lag` is
        the epoch ticks already due but not yet added (they do not count against the call).

        Call it inside `poll.scoped()`: sleeping (`poll_oneoff`) is bounded by this deadline.
        """
        self.fuel = fuel
        self.store.set_fuel(fuel)
        self.store.set_epoch_deadline(ticks_for(timeout_ms, TICK_MS) + lag)
        self.poll.arm(timeout_ms, stdin_bytes)
        if self.files is not None:
            self.files.arm()
        self.cpu_s = None
        self.started = time.perf_counter()
        self.cpu_started = thread_cpu_s()

    def stop(self) -> float:
        """The thread CPU-seconds since `arm`, read at the first `stop` after it."""
        if self.cpu_s is None:
            self.cpu_s = thread_cpu_s() - self.cpu_started
        return self.cpu_s

    def fuel_used(self) -> int:
        return self.fuel - self.store.get_fuel()


class _Stdin:
    """The request body as a file WASI can open: a memfd on Linux, else a private file.

    WASI opens the path when the config is built, so one buffer serves every call of an
    instance (calls are serialized).
    """

    def __init__(self, scratch: Path) -> None:
        if hasattr(os, "memfd_create"):
            self._fd = os.memfd_create("sandbench-stdin", os.MFD_CLOEXEC)
            self.path, self._owned = f"/proc/self/fd/{self._fd}", False
        else:  # pragma: no cover - not Linux
            self.path, self._owned = str(scratch / f"stdin-{os.getpid()}-{next(_serial)}"), True
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)

    def fill(self, body: bytes) -> None:
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, body, 0)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            if self._owned:  # pragma: no cover - not Linux
                os.unlink(self.path)


class _BaseInstance(Closing):
    """Store creation, limits and outcome classification shared by both ABIs."""

    def __init__(self, spec: Spec) -> None:
        self._spec = spec
        self._closed = False
        self._lock = threading.Lock()

    @property
    def cpu(self) -> ModuleCpu:
        """The module's CPU accounting (share and fuel rate), shared by all its instances."""
        return self._spec.cpu

    def close(self) -> None:
        """See `Instance.close`."""
        self._closed = True
        if self._spec.host is not None:
            self._spec.host.close()

    def invoke(self, request: Request) -> Outcome:
        """See `Instance.invoke`."""
        if not self._spec.writes_files:  # no path_open import: no file to count (files.py)
            return self._invoke_locked(request)
        return counted(lambda: self._invoke_locked(request))

    def _invoke_locked(self, request: Request) -> Outcome:
        with self._lock, scoped():
            if self._closed:
                raise SandboxError("instance is closed")
            waited = self._spec.cpu.share.acquire(self._spec.limits.timeout_ms)
            if waited is None:
                return Outcome(violation=self._share_exhausted())
            host = self._spec.host
            if host is None:
                return self._storage_checked(self._invoke(request, waited))
            host.begin()
            with bound(host):
                outcome = self._invoke(request, waited)
            return self._storage_checked(with_activity(outcome, host))

    def _storage_checked(self, outcome: Outcome) -> Outcome:
        """A call that left the writable buckets over `limits.storage` is a violation.

        WASI writes go straight to the preopened folders and cannot be cut off mid-call, so
        the quota is checked after each call of a module that can open files.
        """
        buckets = self._spec.grants.storage_write
        if not buckets or not self._spec.writes_files or outcome.violation is not None:
            return outcome
        limit = self._spec.limits.storage_bytes
        used = sum(bucket_bytes(path) for path in buckets.values())
        if used <= limit:
            return outcome
        violation = Violation(
            kind=ViolationKind.STORAGE,
            message=f"the writable buckets hold {used:,} bytes after the call, above "
            f"limits.storage ({limit:,}); delete what is not needed or raise the limit",
        )
        return outcome.model_copy(update={"violation": violation, "response": None})

    def _invoke(self, request: Request, throttled_ms: float) -> Outcome:
        raise NotImplementedError  # pragma: no cover

    def _arm(self, call: _Call, stdin_bytes: int = 0) -> None:
        """Arm `call` with the deadline and the fuel of the module's per-call CPU budget."""
        call.arm(
            self._spec.limits.timeout_ms,
            self._spec.cpu.call_fuel(),
            stdin_bytes,
            self._spec.epoch_lag(),
        )

    def _share_exhausted(self) -> Violation:
        return Violation(
            kind=ViolationKind.CPU,
            message=f"the module's CPU share ({self._spec.limits.cpu_millicores}m) is used up "
            "for longer than the timeout; it is called more often than its CPU limit allows",
        )

    def _new_call(
        self, env: list[tuple[str, str]], stdin: str | None, *, component: bool = False
    ) -> _Call:
        """A store with the limits, WASI config and fuel for one call (or one live instance).

        A component is several core instances, tables and memories; `memory_size` caps each
        memory. Its stdout and stderr are WASI's sink: the guest's entry sends Python's
        `print` to the host log (and a Python callback as WASI stdout is unsafe at exit).
        """
        limits = self._spec.limits
        store = wasmtime.Store(self._spec.engine)
        if component:
            store.set_limits(memory_size=limits.memory_bytes, instances=64, tables=64, memories=8)
        else:
            # Two instances: the module and, once it opens a file, files.py's adapter.
            store.set_limits(memory_size=limits.memory_bytes, instances=2, tables=4, memories=1)
        stdout, stderr = CappedOutput(limits.output_bytes), CappedOutput(STDERR_CAP, drop=True)
        wasi = wasmtime.WasiConfig()
        wasi.argv = [self._spec.name]
        wasi.env = env
        if stdin is not None:
            wasi.stdin_file = stdin
        if not component:
            wasi.stdout_custom = stdout
            wasi.stderr_custom = stderr
        for bucket, path in self._spec.grants.storage_read.items():
            wasi.preopen_dir(str(path), f"/storage/{bucket}", fs_mutable=False)
        for bucket, path in self._spec.grants.storage_write.items():
            wasi.preopen_dir(str(path), f"/storage/{bucket}", fs_mutable=True)
        store.set_wasi(wasi)
        # After set_wasi: WASI's monotonic clock starts there (see PollState.origin_ns).
        poll = PollState(store=store, stdout=stdout, stderr=stderr, origin_ns=time.monotonic_ns())
        files = FileSlots(limits.files) if self._spec.writes_files else None
        return _Call(store=store, stdout=stdout, stderr=stderr, poll=poll, files=files)

    def _classify(self, call: _Call, exc: Exception | None, memory: int, phase: str) -> Violation:
        """The violation for a call that raised `exc` (None: it returned but overflowed)."""
        limits = self._spec.limits
        if call.stdout.overflowed or exc is None:
            return Violation(
                kind=ViolationKind.OUTPUT,
                phase=phase,
                message=f"output exceeded the {limits.output_bytes}-byte cap; "
                "send less or raise the policy's output limit",
            )
        if call.poll.overslept:
            return _slept_past(limits.timeout_ms, phase)
        text = first_line(exc)
        if "matching implementation was not found" in text:  # a component's unlinked import
            return Violation(kind=ViolationKind.UNKNOWN_IMPORT, phase=phase, message=text)
        code = exc.trap_code if isinstance(exc, wasmtime.Trap) else _trap_code(exc)
        if code == wasmtime.TrapCode.OUT_OF_FUEL:
            return Violation(
                kind=ViolationKind.CPU, phase=phase, message=self._cpu_spent(call, phase)
            )
        if code == wasmtime.TrapCode.INTERRUPT:
            return Violation(
                kind=ViolationKind.TIMEOUT,
                phase=phase,
                message=f"{_WHAT[phase]} still running after limits.timeout "
                f"({limits.timeout_ms} ms)",
            )
        if "exceeds memory limits" in text or _near_limit(memory, limits.memory_bytes):
            return Violation(
                kind=ViolationKind.MEMORY,
                phase=phase,
                message=f"failed after reaching limits.memory ({limits.memory_bytes:,} bytes; "
                f"linear memory {memory:,} bytes): {text}",
            )
        if isinstance(exc, wasmtime.ExitTrap):
            stderr = f"; stderr: {_tail(call.stderr)}" if call.stderr.size else ""
            return Violation(
                kind=ViolationKind.EXIT,
                phase=phase,
                exit_code=exc.code,
                message=f"exited with status {exc.code}{stderr}",
            )
        if code == wasmtime.TrapCode.STACK_OVERFLOW:
            return Violation(
                kind=ViolationKind.STACK,
                phase=phase,
                message="call stack exhausted (unbounded recursion?)",
            )
        return Violation(kind=ViolationKind.TRAP, phase=phase, message=f"trapped: {text}")

    def _cpu_spent(self, call: _Call, phase: str) -> str:
        """What an out-of-fuel call used, in real CPU, against its budget."""
        limits, cpu = self._spec.limits, self._spec.cpu
        rate = call.fuel / cpu.call_budget_s
        source = (
            "this module's measured rate"
            if cpu.rate.samples
            else "the highest rate seen, until this module's is measured"
        )
        return (
            f"used {call.stop() * 1000:.0f} ms of CPU before finishing {_WHAT[phase]}, against "
            f"a budget of {cpu.call_budget_s * 1000:.0f} ms ({limits.cpu_millicores}m for "
            f"{limits.timeout_ms} ms; the fuel stop assumed {rate:.2g} fuel per CPU-second, "
            f"{source}); make it cheaper or raise limits.cpu"
        )

    def _finish(
        self,
        call: _Call,
        memory: int,
        violation: Violation | None,
        output: bytes | None,
        instantiate_ms: float,
        throttled_ms: float,
    ) -> Outcome:
        response = None
        if violation is None and call.poll.overslept:  # returned before an epoch check
            violation = _slept_past(self._spec.limits.timeout_ms, "invoke")
        if violation is None and output is not None:
            try:
                response = parse_cgi_response(output)
            except ProtocolError as exc:
                violation = Violation(kind=ViolationKind.PROTOCOL, message=str(exc))
        stderr = call.stderr.getvalue().decode("utf-8", "replace") if call.stderr.size else ""
        usage = (memory, len(output or b""), instantiate_ms, throttled_ms)
        return self._outcome(call, response, violation, usage, stderr)

    def _outcome(
        self,
        call: _Call,
        response: Response | None,
        violation: Violation | None,
        usage: tuple[int, int, float, float],
        stderr: str = "",
    ) -> Outcome:
        """The call's outcome; `usage` is (memory, output bytes, instantiate ms, throttled ms).

        Charges the CPU the call used to the module's share and learns its fuel rate.
        """
        memory, output_bytes, instantiate_ms, throttled_ms = usage
        cpu_s = call.stop()
        wall_ms = (time.perf_counter() - call.started) * 1000
        fuel = call.fuel_used()
        self._spec.cpu.settle(fuel, cpu_s)
        host_cpu_ms = (thread_cpu_s() - call.cpu_started) * 1000
        # Built from values this module computed: skip validation on the hot path.
        usage_of = built(
            Usage,
            {},
            wall_ms=wall_ms,
            cpu_ms=cpu_s * 1000,
            host_cpu_ms=host_cpu_ms,
            fuel=fuel,
            memory_bytes=memory,
            output_bytes=output_bytes,
            instantiate_ms=instantiate_ms,
            throttled_ms=throttled_ms,
            slept_ms=call.poll.slept_s * 1000,
            stderr_dropped_bytes=call.stderr.dropped,
        )
        return built(
            Outcome,
            _OUTCOME_DEFAULTS,
            response=response,
            violation=violation,
            stderr=stderr,
            usage=usage_of,
        )


class CommandInstance(_BaseInstance):
    """`command` ABI: a fresh store and instance per request."""

    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        self._stdin = _Stdin(spec.scratch)

    def close(self) -> None:
        """See `Instance.close`."""
        with self._lock:
            self._stdin.close()
            super().close()

    def _invoke(self, request: Request, throttled_ms: float) -> Outcome:
        if request.body:
            self._stdin.fill(request.body)
        stdin = self._stdin.path if request.body else None
        call = self._new_call(cgi_environment(request, self._spec.name), stdin)
        instance: wasmtime.Instance | None = None
        memory, instantiate_ms, output = 0, 0.0, None
        violation: Violation | None = None
        try:
            self._arm(call, len(request.body))
            instance = _pre(self._spec).instantiate(call.store)
            instantiate_ms = (time.perf_counter() - call.started) * 1000
            _run_start(instance, call.store)
            memory = _memory_size(instance, call.store)
            if call.stdout.overflowed:
                violation = self._classify(call, None, memory, "invoke")
            output = call.stdout.getvalue()
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            memory = _memory_size(instance, call.store) if instance is not None else 0
            phase = "instantiate" if instance is None else "invoke"
            violation = self._classify(call, exc, memory, phase)
        try:
            return self._finish(call, memory, violation, output, instantiate_ms, throttled_ms)
        finally:
            call.store.close()


class Persistent(_BaseInstance):
    """An ABI that keeps one live instance between calls and re-creates it after any
    violation (a trapped instance is never re-entered). Subclasses make the live instance
    in `_instantiate`; it must carry the `_Call` of its store as `.call`."""

    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        self._live: Any = None

    def close(self) -> None:
        """See `Instance.close`."""
        with self._lock:
            self._discard()
            super().close()

    def _discard(self) -> None:
        if self._live is not None:
            self._live.call.store.close()
            self._live = None

    def warm_up(self) -> Violation | None:
        """Instantiate now (running the module's initialisation), so failures show at load."""
        with self._lock, bound(self._spec.host), scoped():
            return own_context(self._ensure)[1]

    def _new_store(self) -> _Call:
        raise NotImplementedError  # pragma: no cover

    def _instantiate(self, call: _Call) -> Any:
        """Instantiate in `call.store` and return the live instance (raises on a trap)."""
        raise NotImplementedError  # pragma: no cover

    def _ensure(self) -> tuple[float, Violation | None]:
        """Make sure a live instance exists; returns (instantiate ms, violation)."""
        if self._live is not None:
            return 0.0, None
        call = self._new_store()
        try:
            self._arm(call)
            live = self._instantiate(call)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            violation = self._classify(call, exc, 0, "instantiate")
            self._spec.cpu.settle(call.fuel_used(), call.stop(), learn=False)
            call.store.close()
            return 0.0, violation
        self._spec.cpu.settle(call.fuel_used(), call.stop(), learn=False)
        self._live = live
        return (time.perf_counter() - call.started) * 1000, None

    def _invoke(self, request: Request, throttled_ms: float) -> Outcome:
        instantiate_ms, violation = self._ensure()
        if violation is not None or self._live is None:
            return Outcome(violation=violation, usage=Usage(instantiate_ms=instantiate_ms))
        outcome = self._call(self._live, request, instantiate_ms, throttled_ms)
        if outcome.violation is not None:
            self._discard()  # a trapped instance is never re-entered
        return outcome

    def _call(
        self, live: Any, request: Request, instantiate_ms: float, throttled_ms: float
    ) -> Outcome:
        """One request on the live instance `live` (any violation discards it afterwards)."""
        raise NotImplementedError  # pragma: no cover


@dataclass
class _Live:
    """A reactor's live instance and its export handles, looked up once."""

    call: _Call
    memory: wasmtime.Memory
    alloc: wasmtime.Func
    handle: wasmtime.Func
    fast: _Fast | None = None


@dataclass
class _Fast:
    """The unchecked form of a reactor's exports (fastcall.py), when their types are exact."""

    memory: LinearMemory
    alloc: FastExport
    handle: FastExport

    @classmethod
    def of(cls, store: wasmtime.Store, live: _Live) -> _Fast | None:
        alloc = fast_export(store, live.alloc, 1, wasmtime.ValType.i32())
        handle = fast_export(store, live.handle, 2, wasmtime.ValType.i64())
        if alloc is None or handle is None:
            return None
        return cls(memory=LinearMemory.of(store, live.memory), alloc=alloc, handle=handle)


class ReactorInstance(Persistent):
    """`reactor` ABI: one live instance, re-created after any violation."""

    def _new_store(self) -> _Call:
        env = [("SANDBENCH_ABI", "1"), ("SANDBENCH_MODULE", self._spec.name)]
        return self._new_call(env, None)

    def _instantiate(self, call: _Call) -> _Live:
        instance = _pre(self._spec).instantiate(call.store)
        exports = instance.exports(call.store)
        init = exports.get("_initialize")
        if isinstance(init, wasmtime.Func):
            init(call.store)
        memory, alloc, handle = (exports[name] for name in REACTOR_EXPORTS)
        if not isinstance(memory, wasmtime.Memory):
            raise wasmtime.WasmtimeError("the export `memory` is not a memory")
        if not isinstance(alloc, wasmtime.Func) or not isinstance(handle, wasmtime.Func):
            raise wasmtime.WasmtimeError("sandbench_alloc and sandbench_handle must be functions")
        live = _Live(call=call, memory=memory, alloc=alloc, handle=handle)
        live.fast = _Fast.of(call.store, live)
        return live

    def _call(
        self, live: _Live, request: Request, instantiate_ms: float, throttled_ms: float
    ) -> Outcome:
        call = live.call
        call.stdout.reset()
        call.stderr.reset()
        output, violation = None, None
        try:
            self._arm(call)
            output = self._handle(live, request_envelope(request))
            if call.stdout.overflowed:
                violation = self._classify(call, None, 0, "invoke")
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            violation = self._classify(call, exc, _memory_of(live), "invoke")
        except ProtocolError as exc:
            violation = Violation(kind=ViolationKind.PROTOCOL, message=str(exc))
        memory = _memory_of(live)
        return self._finish(call, memory, violation, output, instantiate_ms, throttled_ms)

    def _handle(self, live: _Live, envelope: bytes) -> bytes:
        if live.fast is not None:
            return self._handle_fast(live.fast, envelope)
        store = live.call.store
        ptr = live.alloc(store, len(envelope))
        if not isinstance(ptr, int) or ptr <= 0:
            raise ProtocolError(f"sandbench_alloc({len(envelope)}) returned {ptr!r}")
        size = live.memory.data_len(store)
        if ptr + len(envelope) > size:
            raise ProtocolError(f"sandbench_alloc returned {ptr}, outside memory ({size} bytes)")
        live.memory.write(store, envelope, ptr)
        packed = live.handle(store, ptr, len(envelope))
        if not isinstance(packed, int):
            raise ProtocolError("sandbench_handle must return an i64")
        out_ptr, out_len = (packed >> 32) & 0xFFFFFFFF, packed & 0xFFFFFFFF
        if out_len > self._spec.limits.output_bytes:
            live.call.stdout.overflowed = True
            raise wasmtime.WasmtimeError("output cap")
        size = live.memory.data_len(store)
        if out_ptr + out_len > size:
            raise ProtocolError(
                f"sandbench_handle returned {out_len} bytes at {out_ptr}, outside memory ({size})"
            )
        return bytes(live.memory.read(store, out_ptr, out_ptr + out_len))

    def _handle_fast(self, fast: _Fast, envelope: bytes) -> bytes:
        """`_handle` through the unchecked exports: same checks, same errors."""
        ptr = fast.alloc(len(envelope))
        if ptr <= 0:
            raise ProtocolError(f"sandbench_alloc({len(envelope)}) returned {ptr!r}")
        size = fast.memory.size()
        if ptr + len(envelope) > size:
            raise ProtocolError(f"sandbench_alloc returned {ptr}, outside memory ({size} bytes)")
        fast.memory.write(ptr, envelope)
        packed = fast.handle(ptr, len(envelope))
        out_ptr, out_len = (packed >> 32) & 0xFFFFFFFF, packed & 0xFFFFFFFF
        if out_len > self._spec.limits.output_bytes:
            self._live.call.stdout.overflowed = True
            raise wasmtime.WasmtimeError("output cap")
        size = fast.memory.size()
        if out_ptr + out_len > size:
            raise ProtocolError(
                f"sandbench_handle returned {out_len} bytes at {out_ptr}, outside memory ({size})"
            )
        return fast.memory.read(out_ptr, out_len)


# What a component call's `WasmtimeError` says when it wraps a trap (wasmtime-py raises
# no `Trap` for components).
_TRAP_TEXTS = {
    "all fuel consumed": wasmtime.TrapCode.OUT_OF_FUEL,
    "wasm trap: interrupt": wasmtime.TrapCode.INTERRUPT,
    "call stack exhausted": wasmtime.TrapCode.STACK_OVERFLOW,
}


def _trap_code(exc: Exception) -> wasmtime.TrapCode | None:
    text = str(exc)
    return next((code for needle, code in _TRAP_TEXTS.items() if needle in text), None)


def _run_start(instance: wasmtime.Instance, store: wasmtime.Store) -> None:
    start = instance.exports(store)["_start"]
    if not isinstance(start, wasmtime.Func):
        raise wasmtime.WasmtimeError("_start is not a function")
    try:
        start(store)
    except wasmtime.ExitTrap as exit_trap:
        if exit_trap.code != 0:
            raise


def _pre(spec: Spec) -> wasmtime.InstancePre:
    if spec.pre is None:  # pragma: no cover - the backend always sets it for core modules
        raise SandboxError("a core module instance needs its InstancePre")
    return spec.pre


def _memory_of(live: _Live) -> int:
    return live.fast.memory.size() if live.fast else live.memory.data_len(live.call.store)


def _memory_size(instance: wasmtime.Instance, store: wasmtime.Store) -> int:
    memory = instance.exports(store).get("memory")
    return memory.data_len(store) if isinstance(memory, wasmtime.Memory) else 0


def _slept_past(timeout_ms: int, phase: str) -> Violation:
    return Violation(
        kind=ViolationKind.TIMEOUT,
        phase=phase,
        message=f"{_WHAT[phase]} was still sleeping (poll_oneoff) at limits.timeout "
        f"({timeout_ms} ms); sleep less or raise limits.timeout",
    )


def _near_limit(memory: int, limit: int) -> bool:
    """Did linear memory get within reach of the limit (one MiB or 5 %, whichever is more)?"""
    return memory > 0 and limit - memory < max(1024 * 1024, limit // 20)


def _tail(output: CappedOutput) -> str:
    text = output.getvalue().decode("utf-8", "replace").strip()
    return text[-300:].replace("\n", " | ")


def first_line(exc: BaseException) -> str:
    """The sentence that says what happened, without wasmtime's backtrace."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    for line in lines:
        if "wasm trap:" in line:
            return line.split("wasm trap:", 1)[1].strip()
    return lines[0] if lines else type(exc).__name__
