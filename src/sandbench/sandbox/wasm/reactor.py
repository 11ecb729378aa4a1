"""The `reactor` ABI (docs/abi.md): one live instance serves many calls through its exports.

The request envelope goes in through `sandbench_alloc` and linear memory, the response comes
back as a packed pointer and length from `sandbench_handle`; when the exports' types are
exact they are called through `fastcall.py`'s unchecked path, with the same checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import wasmtime

from sandbench.sandbox.cgi import ProtocolError, request_envelope
from sandbench.sandbox.interface import Outcome, Request, Violation, ViolationKind

from .fastcall import FastExport, LinearMemory, fast_export
from .instances import Persistent
from .store import Call, instance_pre

__all__ = ["REACTOR_EXPORTS", "ReactorInstance"]

REACTOR_EXPORTS = ("memory", "sandbench_alloc", "sandbench_handle")


@dataclass
class _Live:
    """A reactor's live instance and its export handles, looked up once."""

    call: Call
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
        live = _Live(call=call, memory=memory, alloc=alloc, handle=handle)
        live.fast = _Fast.of(call.store, live)
        return live

    def _call(
        self, live: _Live, request: Request, instantiate_ms: float, throttled_ms: float
    ) -> Outcome:
        call = live.call
        call.stdout.reset()
        call.stderr.reset()
        output, violation, memory = None, None, -1
        envelope = request_envelope(request)
        try:
            self._arm(call)
            if live.fast is not None:
                output = self._handle_fast(live.fast, envelope)
                memory = live.fast.memory.known_size  # read after the call, by the bounds check
            else:
                output = self._handle(live, envelope)
            if call.stdout.overflowed:
                violation = self._classify(call, None, 0, "invoke")
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            violation = self._classify(call, exc, _memory_of(live), "invoke")
        except ProtocolError as exc:
            violation = Violation(kind=ViolationKind.PROTOCOL, message=str(exc))
        if memory < 0:
            memory = _memory_of(live)
        return self._finish(call, memory, violation, output, instantiate_ms, throttled_ms)

    def _handle(self, live: _Live, envelope: bytes) -> bytes:
        """One request through wasmtime-py's checked calls (exports of looser types)."""
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


def _memory_of(live: _Live) -> int:
    return live.fast.memory.size() if live.fast else live.memory.data_len(live.call.store)
