"""The reactor's per-call path without wasmtime-py's per-call conversions (issue 17).

`Func.__call__` looks the function's type up, builds `wasmtime_val_t` arrays and converts
each parameter and result in Python on every call: about 20 µs of a 28 µs call with two
i32 parameters (FIELD-NOTES). A reactor's exports have fixed types, so they are checked
once when the instance is made, and each call then goes through wasmtime's
`wasmtime_func_call_unchecked` with a parameter array allocated once.

The C functions on this path are called through ctypes function objects of our own
(`_c`): wasmtime-py's wrappers add a Python frame and convert every argument and result
(a pointer result becomes a new ctypes object), which is half of each call's cost; ours
take addresses as plain ints, or ctypes objects made once. Linear memory is a
`memoryview` over its bytes, made again whenever the memory's size changed (growing may
move it): a slice copy costs a fifth of a `ctypes.memmove`.

Failure modes are those of `Func.__call__`: a trap raises `wasmtime.Trap` (or the Python
exception a host function raised during the call), an error raises `wasmtime.WasmtimeError`.
An export whose type is not the reactor ABI's is not made fast (`fast_export` returns None)
and the caller keeps the checked path, so unchecked calls only ever see the exact types.
This leans on wasmtime-py's private `_context`, `_func`, `_memory` and `_bindings` of the
pinned major version (wasmtime>=50,<51); `tests/sandbox/test_wasm_fastcall.py` guards it.
Every object here must only be used while its store is open (the reactor discards them
together).
"""

from __future__ import annotations

import ctypes
from typing import Any

import wasmtime
from wasmtime import _bindings as ffi
from wasmtime._ffi import dll
from wasmtime._func import maybe_raise_last_exn

__all__ = ["FastExport", "LinearMemory", "StoreMeter", "fast_export", "raise_failure"]

_I32, _I64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
_VOID_P, _U64 = ctypes.c_void_p, ctypes.c_uint64


def _c(name: str, restype: Any, argtypes: list[Any] | None) -> Any:
    """A new ctypes object for wasmtime's C function `name` (wasmtime-py's own keeps its
    argument and result types); with `argtypes` None, arguments must be ctypes objects."""
    func = dll[name]
    func.restype = restype
    if argtypes is not None:
        func.argtypes = argtypes
    return func


_call_unchecked = _c("wasmtime_func_call_unchecked", _VOID_P, None)
_data_size = _c("wasmtime_memory_data_size", ctypes.c_size_t, [_VOID_P, _VOID_P])
_data = _c("wasmtime_memory_data", _VOID_P, [_VOID_P, _VOID_P])
_set_fuel = _c("wasmtime_context_set_fuel", _VOID_P, [_VOID_P, _U64])
_get_fuel = _c("wasmtime_context_get_fuel", _VOID_P, [_VOID_P, _VOID_P])
_set_deadline = _c("wasmtime_context_set_epoch_deadline", None, [_VOID_P, _U64])


def _address(pointer: Any) -> int:
    return ctypes.cast(pointer, _VOID_P).value or 0


class FastExport:
    """A core-module export of type (i32) or (i32, i32) -> one result, called unchecked."""

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, arity: int, i64: bool) -> None:
        if arity not in (1, 2):
            raise ValueError("only exports of one or two i32 parameters are made fast")
        self._func = func  # kept: the address below points into it
        self._args = (ffi.wasmtime_val_raw_t * arity)()
        self._trap = _VOID_P()
        self._argv = (
            _VOID_P(_address(store._context())),
            _VOID_P(ctypes.addressof(func._func)),
            _VOID_P(ctypes.addressof(self._args)),
            ctypes.c_size_t(arity),
            _VOID_P(ctypes.addressof(self._trap)),
        )
        self._arity = arity
        self._i64 = i64

    def __call__(self, first: int, second: int = 0) -> int:
        """Call with one or two i32s (as many as the type has); returns the i32 or i64 result
        (signed, as wasm has it)."""
        args = self._args
        args[0].i32 = first
        if self._arity == 2:
            args[1].i32 = second
        error = _call_unchecked(*self._argv)
        if error or self._trap.value:
            self._raise(error)
        return int(args[0].i64 if self._i64 else args[0].i32)

    def _raise(self, error: int | None) -> None:
        trap, self._trap.value = self._trap.value, None  # the Trap owns it from here
        raise_failure(
            ctypes.cast(error or 0, ctypes.POINTER(ffi.wasmtime_error_t)),
            ctypes.cast(trap or 0, ctypes.POINTER(ffi.wasm_trap_t)),
        )


def raise_failure(error: Any, trap: Any) -> None:
    """Raise what `Func.__call__` would for an unchecked call's `error` or `trap` (null
    pointers: none)."""
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


class StoreMeter:
    """A store's fuel and epoch deadline, set and read the cheap way (see the module doc).

    Raises `wasmtime.WasmtimeError` if the engine does not meter fuel, `ValueError` once
    the store is closed (as `Store.set_fuel` does).
    """

    def __init__(self, store: wasmtime.Store) -> None:
        self._store = store  # kept: the context belongs to it
        self._context = _address(store._context())
        self._fuel = ctypes.c_uint64()
        self._fuel_at = ctypes.addressof(self._fuel)

    def set(self, fuel: int, deadline_ticks: int) -> None:
        """Give the store `fuel` and a deadline `deadline_ticks` epochs from now."""
        # A closed store's context is freed memory: never hand it to wasmtime.
        if self._store._Store__context is None:  # type: ignore[attr-defined]
            raise ValueError("already closed")
        if error := _set_fuel(self._context, fuel):
            _raise_error(error)
        _set_deadline(self._context, deadline_ticks)

    def fuel(self) -> int:
        """The fuel left."""
        if self._store._Store__context is None:  # type: ignore[attr-defined]
            raise ValueError("already closed")
        if error := _get_fuel(self._context, self._fuel_at):
            _raise_error(error)
        return self._fuel.value


def _raise_error(error: int) -> None:
    raise wasmtime.WasmtimeError._from_ptr(ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t)))


class LinearMemory:
    """Direct reads and writes of an exported memory (bounds checked against its size)."""

    def __init__(self, context: Any, memory: Any) -> None:
        """`context`: a store's or caller's `wasmtime_context_t` pointer; `memory`: the
        `wasmtime_memory_t` of an exported memory of that store."""
        self._memory_t = memory  # kept: the address below points into it
        self._context = _address(context)
        self._memory = ctypes.addressof(memory)
        self._size = -1
        self._view: memoryview | None = None
        self.size()

    @classmethod
    def of(cls, store: wasmtime.Store, memory: wasmtime.Memory) -> LinearMemory:
        """The accessor of `memory`, an export of an instance in `store`."""
        return cls(store._context(), memory._memory)

    @property
    def known_size(self) -> int:
        """The size `size()` last read (current as long as no wasm ran since)."""
        return self._size

    def size(self) -> int:
        """The memory's current size in bytes (the view is made again if it changed)."""
        size = int(_data_size(self._context, self._memory))
        if size != self._size:
            self._size, self._view = size, None
        return size

    def write(self, offset: int, data: bytes) -> None:
        """Copy `data` to `offset`; the caller checked `offset + len(data) <= size()`."""
        (self._view or self._mapped())[offset : offset + len(data)] = data

    def read(self, offset: int, length: int) -> bytes:
        """`length` bytes from `offset`; the caller checked the range against `size()`."""
        return (self._view or self._mapped())[offset : offset + length].tobytes()

    def _mapped(self) -> memoryview:
        """The view over the memory as `size()` last saw it (an empty memory: an empty one)."""
        base = _data(self._context, self._memory)
        if not self._size or not base:
            self._view = memoryview(bytearray())
        else:
            self._view = memoryview((ctypes.c_ubyte * self._size).from_address(base)).cast("B")
        return self._view
