"""The reactor's per-call path without wasmtime-py's per-call conversions (issue 17).

`Func.__call__` looks the function's type up, builds `wasmtime_val_t` arrays and converts
each parameter and result in Python on every call: about 20 µs of a 28 µs call with two
i32 parameters (FIELD-NOTES). A reactor's exports have fixed types, so they are checked
once when the instance is made, and each call then goes through wasmtime's
`wasmtime_func_call_unchecked` with a parameter array allocated once. Linear memory is
read and written with `ctypes.memmove` / `ctypes.string_at` at its base address, which is
read again whenever the memory's size changed (growing may move it).

Failure modes are those of `Func.__call__`: a trap raises `wasmtime.Trap` (or the Python
exception a host function raised during the call), an error raises `wasmtime.WasmtimeError`.
An export whose type is not the reactor ABI's is not made fast (`fast_export` returns None)
and the caller keeps the checked path, so unchecked calls only ever see the exact types.
This leans on wasmtime-py's private `_context`, `_func`, `_memory` and `_bindings` of the
pinned major version (wasmtime>=50,<51); `tests/sandbox/test_wasm_fastcall.py` guards it.
"""

from __future__ import annotations

import ctypes
from typing import Any

import wasmtime
from wasmtime import _bindings as ffi
from wasmtime._func import maybe_raise_last_exn

__all__ = ["FastExport", "LinearMemory", "fast_export", "raise_failure"]

_I32, _I64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()


class FastExport:
    """A core-module export of type (i32) or (i32, i32) -> one result, called unchecked.

    Must only be used while its store is open (the reactor discards both together).
    """

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, arity: int, i64: bool) -> None:
        if arity not in (1, 2):
            raise ValueError("only exports of one or two i32 parameters are made fast")
        self._store_ctx = store._context()
        self._func_ref = ctypes.byref(func._func)
        self._args = (ffi.wasmtime_val_raw_t * max(arity, 1))()
        self._arity = arity
        self._i64 = i64

    def __call__(self, first: int, second: int = 0) -> int:
        """Call with one or two i32s (as many as the type has); returns the i32 or i64 result
        (signed, as wasm has it)."""
        args = self._args
        args[0].i32 = first
        if self._arity == 2:
            args[1].i32 = second
        trap = ctypes.POINTER(ffi.wasm_trap_t)()
        error = ffi.wasmtime_func_call_unchecked(
            self._store_ctx, self._func_ref, args, self._arity, ctypes.byref(trap)
        )
        raise_failure(error, trap)
        return int(args[0].i64 if self._i64 else args[0].i32)


def raise_failure(error: Any, trap: Any) -> None:
    """Raise what `Func.__call__` would for an unchecked call's `error` or `trap` (None: none)."""
    if error:
        exc = wasmtime.WasmtimeError._from_ptr(error)
        maybe_raise_last_exn()
        raise exc
    if trap:
        trapped = wasmtime.Trap._from_ptr(trap)
        maybe_raise_last_exn()  # a host function's own exception wins, as in Func.__call__
        raise trapped


def fast_export(
    store: wasmtime.Store, func: wasmtime.Func, params: int, result: wasmtime.ValType
) -> FastExport | None:
    """`func` made fast if its type is exactly `params` i32s -> one `result`, else None."""
    ty = func.type(store)
    if ty.params != [_I32] * params or ty.results != [result]:
        return None
    return FastExport(store, func, params, result == _I64)


class LinearMemory:
    """Direct reads and writes of an exported memory (bounds checked against its size)."""

    def __init__(self, context: Any, memory: Any) -> None:
        """`context`: a store's or caller's `wasmtime_context_t` pointer; `memory`: the
        `wasmtime_memory_t` of an exported memory of that store."""
        self._store_ctx = context
        self._memory_t = memory  # kept: the reference below points into it
        self._memory_ref = ctypes.byref(memory)
        self._size = -1
        self._base = 0
        self.size()  # the base address, before any read or write

    @classmethod
    def of(cls, store: wasmtime.Store, memory: wasmtime.Memory) -> LinearMemory:
        """The accessor of `memory`, an export of an instance in `store`."""
        return cls(store._context(), memory._memory)

    def size(self) -> int:
        """The memory's current size in bytes (re-reads its base address if it changed)."""
        size = int(ffi.wasmtime_memory_data_size(self._store_ctx, self._memory_ref))
        if size != self._size:
            data: Any = ffi.wasmtime_memory_data(self._store_ctx, self._memory_ref)
            self._base = ctypes.cast(data, ctypes.c_void_p).value or 0
            self._size = size
        return size

    def write(self, offset: int, data: bytes) -> None:
        """Copy `data` to `offset`; the caller checked `offset + len(data) <= size()`."""
        ctypes.memmove(self._base + offset, data, len(data))

    def read(self, offset: int, length: int) -> bytes:
        """`length` bytes from `offset`; the caller checked the range against `size()`."""
        return ctypes.string_at(self._base + offset, length)
