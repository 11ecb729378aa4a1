"""wasmtime's C API without wasmtime-py's per-call conversions (issue 17).

`Func.__call__` looks the function's type up, builds `wasmtime_val_t` arrays and converts
each parameter and result in Python on every call. A reactor's exports have fixed types,
so they are checked once when the instance is made (`exact_type`) and each call then goes
through native.py, which calls wasmtime's `wasmtime_func_call_unchecked` from C; a trap
or error it hands back is raised here exactly as `Func.__call__` raises it
(`raise_failure`).

The store's fuel and epoch deadline (`StoreMeter`: instantiation, command calls) and
linear memory seen from host functions (`LinearMemory`) go through ctypes function objects
of our own (`_c`): wasmtime-py's wrappers add a Python frame and convert every argument
and result (a pointer result becomes a new ctypes object), which is half of each call's
cost; ours take addresses as plain ints, or ctypes objects made once. Linear memory is a
`memoryview` over its bytes, made again whenever the memory's size changed (growing may
move it): a slice copy costs a fifth of a `ctypes.memmove`.

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

__all__ = ["LinearMemory", "StoreMeter", "exact_type", "raise_failure"]

_I32 = wasmtime.ValType.i32()
_VOID_P, _U64 = ctypes.c_void_p, ctypes.c_uint64


def _c(name: str, restype: Any, argtypes: list[Any] | None) -> Any:
    """A new ctypes object for wasmtime's C function `name` (wasmtime-py's own keeps its
    argument and result types); with `argtypes` None, arguments must be ctypes objects."""
    func = dll[name]
    func.restype = restype
    if argtypes is not None:
        func.argtypes = argtypes
    return func


_data_size = _c("wasmtime_memory_data_size", ctypes.c_size_t, [_VOID_P, _VOID_P])
_data = _c("wasmtime_memory_data", _VOID_P, [_VOID_P, _VOID_P])
_set_fuel = _c("wasmtime_context_set_fuel", _VOID_P, [_VOID_P, _U64])
_get_fuel = _c("wasmtime_context_get_fuel", _VOID_P, [_VOID_P, _VOID_P])
_set_deadline = _c("wasmtime_context_set_epoch_deadline", None, [_VOID_P, _U64])


def _address(pointer: Any) -> int:
    return ctypes.cast(pointer, _VOID_P).value or 0


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


def exact_type(
    store: wasmtime.Store, func: wasmtime.Func, params: int, result: wasmtime.ValType
) -> bool:
    """Whether `func`'s type is exactly `params` i32s -> one `result` (the only exports
    called unchecked, by native.py)."""
    ty = func.type(store)
    return ty.params == [_I32] * params and ty.results == [result]


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
