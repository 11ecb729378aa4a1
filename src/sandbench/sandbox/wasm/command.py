"""The `command` ABI: a WASI program run once per request, CGI style (docs/abi.md).

Every request gets a fresh store and instance: nothing a request leaves in linear memory,
globals or WASI state reaches the next one. What does not depend on the request is done
once, so that a request costs less than the plain WAGI way (issue 17):

- the module is compiled and linked once, at load (`Spec.pre`, an `InstancePre`), on the
  pooling engine of command modules (engines.py): instance and memory come from slots that
  are reused, and a request waits (up to its timeout) for a free one;
- WASI's argv and environment arrays are built once per distinct environment, the body is
  stdin from memory (wasi.py), and stdout and stderr go straight into the call's capped
  sinks (stdio.py): no file, no worker thread;
- `_start` and `memory` are looked up by name in the new instance (wasmtime-py's
  `Instance.exports` builds a map of every export), and `_start`, whose type is checked
  once at load, is called through `wasmtime_func_call_unchecked` like the reactor's
  exports (fastcall.py). A `_start` of another type takes wasmtime-py's checked call,
  which fails the request as before.

Every limit is the store's, set per request by `store.new_call` and `Call.arm`, as for the
other ABIs.
"""

from __future__ import annotations

import ctypes
import time
from typing import Any

import wasmtime
from wasmtime import _bindings as ffi
from wasmtime import _ffi

from sandbench.sandbox.cgi import cgi_environment
from sandbench.sandbox.interface import Outcome, Request, Violation, ViolationKind

from .engines import SLOTS, Slots
from .fastcall import LinearMemory, raise_failure
from .instances import _BaseInstance
from .store import Spec, instance_pre

__all__ = ["CommandInstance"]

_START, _MEMORY = b"_start", b"memory"
_EXTERN_FUNC, _EXTERN_MEMORY = _ffi.WASMTIME_EXTERN_FUNC.value, _ffi.WASMTIME_EXTERN_MEMORY.value


class CommandInstance(_BaseInstance):
    """`command` ABI: a fresh store and instance per request."""

    def __init__(self, spec: Spec, slots: Slots) -> None:
        """`slots`: the pooling engine's, one held per request in flight (engines.py)."""
        super().__init__(spec)
        self._pre = instance_pre(spec)
        self._unchecked = _nullary(self._pre.module)
        self._slots = slots

    def _invoke(self, request: Request, throttled_ms: float) -> Outcome:
        if not self._slots.acquire(timeout=self._spec.limits.timeout_ms / 1000):
            return Outcome(violation=_no_slot(self._spec.limits.timeout_ms))
        try:
            return self._request(request, throttled_ms)
        finally:
            self._slots.release()

    def _request(self, request: Request, throttled_ms: float) -> Outcome:
        call = self._new_call(cgi_environment(request, self._spec.name), request.body)
        context = call.store._context()
        instance: Any = None
        memory, instantiate_ms, output = 0, 0.0, None
        violation: Violation | None = None
        try:
            self._arm(call, len(request.body))
            instance = _instantiate(self._pre, context)
            instantiate_ms = (time.perf_counter() - call.started) * 1000
            # Found once per request, for stdio's fd_write (which would look it up at the
            # first write) and for the memory size at the end.
            call.poll.memory = _memory(context, instance)
            self._run_start(call.store, context, instance)
            memory = call.poll.memory.size() if call.poll.memory is not None else 0
            if call.stdout.overflowed:
                violation = self._classify(call, None, memory, "invoke")
            output = call.stdout.getvalue()
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            memory = _memory_size(context, instance, call.poll.memory)
            phase = "instantiate" if instance is None else "invoke"
            violation = self._classify(call, exc, memory, phase)
        try:
            return self._finish(call, memory, violation, output, instantiate_ms, throttled_ms)
        finally:
            call.store.close()

    def _run_start(self, store: wasmtime.Store, context: Any, instance: Any) -> None:
        """Run `_start`; exit status 0 is a normal return. Raises what wasmtime-py raises."""
        start = _export(context, instance, _START)
        if start is None or start.kind != _EXTERN_FUNC:
            raise wasmtime.WasmtimeError("_start is not a function")
        try:
            if self._unchecked:
                _call_nullary(context, start.of.func)
            else:
                wasmtime.Func._from_raw(start.of.func)(store)
        except wasmtime.ExitTrap as exit_trap:
            if exit_trap.code != 0:
                raise


def _no_slot(timeout_ms: int) -> Violation:
    return Violation(
        kind=ViolationKind.TIMEOUT,
        message=f"waited limits.timeout ({timeout_ms} ms) for one of the backend's {SLOTS} "
        "command instance slots, all busy with other requests; serve fewer at once",
    )


def _nullary(module: wasmtime.Module) -> bool:
    """Whether the module's `_start` is a function of type `() -> ()`."""
    for export in module.exports:
        if export.name == "_start":
            kind = export.type
            return isinstance(kind, wasmtime.FuncType) and not kind.params and not kind.results
    return False


def _instantiate(pre: wasmtime.InstancePre, context: Any) -> Any:
    """A new instance of `pre` in the store of `context` (a `wasmtime_instance_t`)."""
    instance = ffi.wasmtime_instance_t()
    trap = ctypes.POINTER(ffi.wasm_trap_t)()
    error = ffi.wasmtime_instance_pre_instantiate(
        pre.ptr(), context, ctypes.byref(instance), ctypes.byref(trap)
    )
    raise_failure(error, trap)
    return instance


def _export(context: Any, instance: Any, name: bytes) -> Any:
    """The instance's export `name` (a `wasmtime_extern_t`), or None."""
    item = ffi.wasmtime_extern_t()
    found = ffi.wasmtime_instance_export_get(
        context, ctypes.byref(instance), name, len(name), ctypes.byref(item)
    )
    return item if found else None


def _call_nullary(context: Any, func: Any) -> None:
    """Call a `() -> ()` function without wasmtime-py's per-call type look-up."""
    trap = ctypes.POINTER(ffi.wasm_trap_t)()
    error = _call_unchecked(context, ctypes.byref(func), _NO_VALUES, 1, ctypes.byref(trap))
    raise_failure(error, trap)


# wasmtime-py's ctypes function itself, without its wrapper's Python frame; and the value
# array of a `() -> ()` call, which has nothing to read or write in it: one for all calls.
_call_unchecked = ffi._wasmtime_func_call_unchecked
_NO_VALUES = (ffi.wasmtime_val_raw_t * 1)()


def _memory(context: Any, instance: Any) -> LinearMemory | None:
    """The instance's exported `memory`, or None (a module without one traps at its first
    write to stdout, as with WASI's `fd_write`)."""
    memory = _export(context, instance, _MEMORY)
    if memory is None or memory.kind != _EXTERN_MEMORY:
        return None
    return LinearMemory(context, memory.of.memory)


def _memory_size(context: Any, instance: Any, memory: LinearMemory | None) -> int:
    """The memory size after a failure: 0 before instantiation, else the exported memory's."""
    if instance is None:
        return 0
    found = memory or _memory(context, instance)
    return found.size() if found is not None else 0
