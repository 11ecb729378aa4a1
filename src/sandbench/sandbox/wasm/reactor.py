"""The `reactor` ABI (docs/abi.md): one live instance serves many calls through its exports.

The request envelope goes in through `sandbench_alloc` and linear memory, the response comes
back as a packed pointer and length from `sandbench_handle`; when the exports' types are
exact, the whole call is one crossing into native code (native.py), with the same checks.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import wasmtime
from wasmtime import _bindings as ffi

from sandbench.sandbox.budget import CappedOutput, ticks_for
from sandbench.sandbox.cgi import ProtocolError, request_envelope
from sandbench.sandbox.interface import Outcome, Request, Violation, ViolationKind

from .fastcall import exact_type, raise_failure
from .instances import Persistent
from .native import NativeReactor, Status, envelope
from .store import TICK_MS, Call, Spec, instance_pre

__all__ = ["REACTOR_EXPORTS", "ReactorInstance"]

REACTOR_EXPORTS = ("memory", "sandbench_alloc", "sandbench_handle")
_I32, _I64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()


@dataclass
class _Live:
    """A reactor's live instance and its export handles, looked up once."""

    call: Call
    memory: wasmtime.Memory
    alloc: wasmtime.Func
    handle: wasmtime.Func
    # The one-crossing call (native.py) when the exports' types are exact, else None.
    fast: NativeReactor | None = None


class ReactorInstance(Persistent):
    """`reactor` ABI: one live instance, re-created after any violation."""

    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        # Nothing but the call itself on a call's path: no limit guards, no call state, no
        # host API, no storage quota (see `invoke`).
        self._lean = not (
            spec.guards or spec.call_state or spec.host is not None or spec.writes_files
        )

    def invoke(self, request: Request) -> Outcome:
        """See `Instance.invoke`. A lean module's live instance on the native path is
        called straight from here: the crossing checks the CPU share and charges it
        (native.py); only a share in debt, a missing live instance or a closed one take
        the general path, which waits for the share, instantiates or raises."""
        if not self._lean:
            return super().invoke(request)
        with self._lock:
            live = self._live
            fast = None if live is None or self._closed else live.fast
            if fast is not None and fast.charges:  # else the share is Python's to check
                outcome = self._call_native(live, fast, request, 0.0, 0.0, True)
                if outcome is not None:
                    if outcome.violation is not None:
                        self._discard()  # a trapped instance is never re-entered
                    return outcome
            return self._invoke_shared(request)

    def _new_store(self) -> Call:
        env = [("SANDBENCH_ABI", "1"), ("SANDBENCH_MODULE", self._spec.name)]
        return self._new_call(env, None)

    def _instantiate(self, call: Call) -> _Live:
        instance = instance_pre(self._spec).instantiate(call.store)
        exports = instance.exports(call.store)
        init = exports.get("_initialize")
        if isinstance(init, wasmtime.Func):
            init(call.store)
        memory, alloc, handle = (exports[name] for name in REACTOR_EXPORTS)
        if not isinstance(memory, wasmtime.Memory):
            raise wasmtime.WasmtimeError("the export `memory` is not a memory")
        if not isinstance(alloc, wasmtime.Func) or not isinstance(handle, wasmtime.Func):
            raise wasmtime.WasmtimeError("sandbench_alloc and sandbench_handle must be functions")
        spec = self._spec
        ticks = ticks_for(spec.limits.timeout_ms, TICK_MS)
        live = _Live(call=call, memory=memory, alloc=alloc, handle=handle)
        if exact_type(call.store, alloc, 1, _I32) and exact_type(call.store, handle, 2, _I64):
            bound_to = (call.store, memory, alloc, handle)
            cap = spec.limits.output_bytes
            live.fast = NativeReactor(bound_to, ticks, cap, spec.epoch_ticker, spec.cpu.share)
        return live

    def _call(
        self, live: _Live, request: Request, instantiate_ms: float, throttled_ms: float
    ) -> Outcome:
        fast = live.fast
        if fast is None:
            return self._call_checked(live, request, instantiate_ms, throttled_ms)
        outcome = self._call_native(live, fast, request, instantiate_ms, throttled_ms, False)
        assert outcome is not None  # noqa: S101 - only a checking call is refused
        return outcome

    def _call_native(
        self,
        live: _Live,
        fast: NativeReactor,
        request: Request,
        instantiate_ms: float,
        throttled_ms: float,
        check: bool,
    ) -> Outcome | None:
        """`_call` in one crossing (native.py): the same checks, errors and figures as the
        checked path. With `check`, None when the module's CPU share is in debt (nothing
        ran); the crossing charges the share the CPU the call used."""
        call, spec = live.call, self._spec
        for sink in (call.stdout, call.stderr):
            if sink.size or sink.overflowed:  # written last call (a dropping one has size too)
                sink.reset()
        sent = envelope(request)  # cgi.request_envelope's bytes, built in C
        fuel = spec.cpu.rate.fuel_for(spec.cpu.call_budget_s)  # `call_fuel()`, a frame fewer
        if self._lean:  # `arm_host` arms nothing else: no call state, no guards
            call.fuel = fuel
        else:
            call.arm_host(spec.limits.timeout_ms, fuel)
        status, a, b, c, output, wall, cpu, left, memory = fast(fuel, sent, check)
        if status == Status.IN_DEBT:
            return None
        call.measured(wall, cpu, left, fast.charges)
        violation = None
        if status:
            try:
                _raise_for(status, (a, b, c), len(sent), call.stdout)
            except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
                violation = self._classify(call, exc, _memory_of(live), "invoke")
            except ProtocolError as exc:
                violation = Violation(kind=ViolationKind.PROTOCOL, message=str(exc))
        elif call.stdout.overflowed:
            violation = self._classify(call, None, 0, "invoke")
        if memory < 0:
            memory = _memory_of(live)
        return self._finish(call, memory, violation, output, instantiate_ms, throttled_ms, (a, b))

    def _call_checked(
        self, live: _Live, request: Request, instantiate_ms: float, throttled_ms: float
    ) -> Outcome:
        """`_call` through wasmtime-py's checked calls (exports of looser types)."""
        call = live.call
        call.stdout.reset()
        call.stderr.reset()
        output, violation = None, None
        envelope = request_envelope(request)
        try:
            self._arm(call)
            output = self._handle(live, envelope)
            if call.stdout.overflowed:
                violation = self._classify(call, None, 0, "invoke")
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            violation = self._classify(call, exc, _memory_of(live), "invoke")
        except ProtocolError as exc:
            violation = Violation(kind=ViolationKind.PROTOCOL, message=str(exc))
        return self._finish(call, _memory_of(live), violation, output, instantiate_ms, throttled_ms)

    def _handle(self, live: _Live, envelope: bytes) -> bytes:
        """One request through wasmtime-py's checked calls (exports of looser types)."""
        store = live.call.store
        ptr = live.alloc(store, len(envelope))
        if not isinstance(ptr, int) or ptr <= 0:
            raise _alloc_bad(len(envelope), ptr)
        size = live.memory.data_len(store)
        if ptr + len(envelope) > size:
            raise _alloc_outside(ptr, size)
        live.memory.write(store, envelope, ptr)
        packed = live.handle(store, ptr, len(envelope))
        if not isinstance(packed, int):
            raise ProtocolError("sandbench_handle must return an i64")
        out_ptr, out_len = (packed >> 32) & 0xFFFFFFFF, packed & 0xFFFFFFFF
        if out_len > self._spec.limits.output_bytes:
            raise _over_cap(live.call.stdout)
        size = live.memory.data_len(store)
        if out_ptr + out_len > size:
            raise _output_outside(out_ptr, out_len, size)
        return bytes(live.memory.read(store, out_ptr, out_ptr + out_len))


def _memory_of(live: _Live) -> int:
    return int(live.memory.data_len(live.call.store))


# What a reactor's exports did wrong, in the same words on both paths (checked and native).
def _alloc_bad(sent: int, ptr: object) -> ProtocolError:
    return ProtocolError(f"sandbench_alloc({sent}) returned {ptr!r}")


def _alloc_outside(ptr: int, size: int) -> ProtocolError:
    return ProtocolError(f"sandbench_alloc returned {ptr}, outside memory ({size} bytes)")


def _output_outside(ptr: int, length: int, size: int) -> ProtocolError:
    return ProtocolError(
        f"sandbench_handle returned {length} bytes at {ptr}, outside memory ({size})"
    )


def _over_cap(stdout: CappedOutput) -> wasmtime.WasmtimeError:
    """The output cap: `stdout` marked overflowed, which `_classify` reads as `output`."""
    stdout.overflowed = True
    return wasmtime.WasmtimeError("output cap")


def _raise_for(status: int, numbers: tuple[int, int, int], sent: int, stdout: CappedOutput) -> None:
    """Raise what `_handle` raises for the native call's failure `status` with its
    `numbers` (a, b, c; see `native.Status`); `sent`: the request's length. A trap or error
    pointer becomes Python's from here (`fastcall.raise_failure`)."""
    a, b, c = numbers
    if status in (Status.ALLOC_FAILED, Status.HANDLE_FAILED, Status.FUEL_ERROR):
        raise_failure(_pointer(a, ffi.wasmtime_error_t), _pointer(b, ffi.wasm_trap_t))
    if status == Status.ALLOC_BAD:
        raise _alloc_bad(sent, a)
    if status == Status.ALLOC_OUTSIDE:
        raise _alloc_outside(a, b)
    if status == Status.OVER_CAP:
        raise _over_cap(stdout)
    raise _output_outside(a, b, c)


def _pointer(address: int, kind: Any) -> Any:
    """A ctypes pointer to a `kind` at `address` (0: a null one)."""
    return ctypes.cast(address, ctypes.POINTER(kind))
