"""Host functions linked through wasmtime's unchecked callback (issue 17, host calls).

`Linker.define_func` sends every call through wasmtime-py's checked trampoline: each
parameter becomes a `Val`, the result is converted back against the function's type, in
Python, on every call (about half of a `log` call's cost here). The host API's functions
all take i32s and return one i32, so they are defined with
`wasmtime_linker_define_func_unchecked`: the trampoline reads the i32s straight from
wasmtime's raw argument array and writes the result back into it.

Behaviour is that of `define_func(..., access_caller=True)`: the function gets a
`wasmtime.Caller` (valid only during the call) and its i32 parameters; an exception it
raises becomes a trap, and `Func.__call__` re-raises the exception itself (through
wasmtime-py's `LAST_EXCEPTION`, as its own trampoline does). This leans on wasmtime-py's
private `_func` and `_bindings` of the pinned major version (wasmtime>=50,<51);
`tests/sandbox/test_wasm_fastcall.py` guards it.
"""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Callable
from typing import Any, cast

import wasmtime
from wasmtime import _bindings as ffi
from wasmtime import _ffi, _func

from .fastcall import LinearMemory

__all__ = ["caller_memory", "define_i32_func"]

_MEMORY = b"memory"

# Functions by the id wasmtime hands back to the trampoline; removed when wasmtime drops
# the definition (the linker and every store using it are gone).
_FUNCS: dict[int, tuple[Callable[..., int], int]] = {}
_ids = itertools.count(1)


@ffi.wasmtime_func_unchecked_callback_t  # type: ignore[untyped-decorator]
def _trampoline(env: int, caller_ptr: Any, args: Any, _count: int) -> int:
    caller = _Caller(caller_ptr)
    try:
        func, arity = _FUNCS[env]
        args[0].i32 = func(caller, *[args[i].i32 for i in range(arity)])
        return 0
    except BaseException as exc:  # handed back to the caller, as wasmtime-py does
        _func.LAST_EXCEPTION = exc  # type: ignore[assignment]  # wasmtime-py stores any
        trap = wasmtime.Trap("python exception")._consume()
        return int(ctypes.cast(trap, ctypes.c_void_p).value or 0)
    finally:
        caller._invalidate()


class _Caller(wasmtime.Caller):
    """A `wasmtime.Caller` that keeps its raw pointer for `caller_memory`."""

    def __init__(self, ptr: Any) -> None:
        super().__init__(ptr)
        self.raw = ptr


def caller_memory(caller: wasmtime.Caller) -> LinearMemory | None:
    """The calling instance's exported `memory` (None if it has none), read and written by
    address; valid only during the host call (the guest cannot grow it meanwhile)."""
    if not isinstance(caller, _Caller):
        return None
    item = ffi.wasmtime_extern_t()
    if not ffi.wasmtime_caller_export_get(caller.raw, _MEMORY, len(_MEMORY), ctypes.byref(item)):
        return None
    if cast(int, item.kind) != _EXTERN_MEMORY:  # a ctypes field reads as a plain int
        return None
    return LinearMemory(caller._context(), item.of.memory)


_EXTERN_MEMORY = _ffi.WASMTIME_EXTERN_MEMORY.value


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[untyped-decorator]
def _finalize(env: int | None) -> None:
    _FUNCS.pop(env or 0, None)


def define_i32_func(
    linker: wasmtime.Linker, module: str, name: str, arity: int, func: Callable[..., int]
) -> None:
    """Define `module.name` of type (i32 x arity) -> i32 on `linker`, served by
    `func(caller, *params)`. Raises `wasmtime.WasmtimeError` if the linker refuses it."""
    i32 = wasmtime.ValType.i32()
    ty = wasmtime.FuncType([i32] * arity, [i32])
    ident = next(_ids)
    _FUNCS[ident] = (func, arity)
    module_bytes, name_bytes = module.encode(), name.encode()
    error = ffi.wasmtime_linker_define_func_unchecked(
        linker.ptr(),
        ctypes.create_string_buffer(module_bytes),
        len(module_bytes),
        ctypes.create_string_buffer(name_bytes),
        len(name_bytes),
        ty.ptr(),
        _trampoline,
        ident,
        _finalize,
    )
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)
