"""Host functions linked through wasmtime's unchecked callback (issue 17, host calls).

`Linker.define_func` sends every call through wasmtime-py's checked trampoline: each
parameter becomes a `Val`, the result is converted back against the function's type, in
Python, on every call (about 9 µs of a bare host function's 10 µs here). The host API's
functions all take i32s and return one i32, so they are defined with
`wasmtime_linker_define_func_unchecked`, and everything on the way is plain integers:

- the trampoline's C type takes the caller and the argument array as addresses (no ctypes
  pointer objects per call); the i32s are unpacked from the raw array in one `struct`
  call, and the result is written back into its first slot;
- the caller's memory is found with four foreign calls on prototypes of our own with
  address arguments (`_native`), not through the bindings' typed wrappers: about 2 µs a
  call, where a `wasmtime.Caller` and a `LinearMemory` took 5.

Behaviour is that of `define_func(..., access_caller=True)`: the function gets a
`HostCaller` (valid only during the call) and its i32 parameters (signed, as wasm has
them); an exception it raises becomes a trap, and `Func.__call__` re-raises the exception
itself (through wasmtime-py's `LAST_EXCEPTION`, as its own trampoline does). This leans
on wasmtime-py's private `_func` and `_bindings` and on wasmtime's C API of the pinned
major version (wasmtime>=50,<51); `tests/sandbox/test_wasm_fastcall.py` guards it.
"""

from __future__ import annotations

import ctypes
import itertools
import struct
from collections.abc import Callable
from typing import Any, TypeVar

import wasmtime
from wasmtime import _bindings as ffi
from wasmtime import _ffi, _func

__all__ = ["CallerMemory", "HostCaller", "caller_memory", "define_i32_func"]

_MEMORY = b"memory"
_EXTERN_MEMORY = _ffi.WASMTIME_EXTERN_MEMORY.value
_EXTERN_SIZE = ctypes.sizeof(ffi.wasmtime_extern_t)
_EXTERN_OF = ffi.wasmtime_extern_t.of.offset  # where the `wasmtime_memory_t` starts
_VAL_RAW = ctypes.sizeof(ffi.wasmtime_val_raw_t)  # one slot of the argument array
_RESULT = ctypes.c_int32.from_address


def _native(name: str, restype: Any, *argtypes: Any) -> Any:
    """A function of wasmtime's library taking and returning addresses as plain ints, on
    a prototype of our own (not the bindings' configured one). It keeps the GIL: these
    return at once and never call back, and a release and re-take costs more than they do."""
    library = ffi.dll  # type: ignore[attr-defined]  # the loaded library, not re-exported
    return ctypes.PYFUNCTYPE(restype, *argtypes)((name, library))


_ADDR = ctypes.c_void_p
_caller_context = _native("wasmtime_caller_context", _ADDR, _ADDR)
_caller_export_get = _native(
    "wasmtime_caller_export_get", ctypes.c_bool, _ADDR, ctypes.c_char_p, ctypes.c_size_t, _ADDR
)
_memory_data = _native("wasmtime_memory_data", _ADDR, _ADDR, _ADDR)
_memory_data_size = _native("wasmtime_memory_data_size", ctypes.c_size_t, _ADDR, _ADDR)

# Functions by the id wasmtime hands back to the trampoline; removed when wasmtime drops
# the definition (the linker and every store using it are gone).
_FUNCS: dict[int, tuple[Callable[..., int], Callable[[bytes], tuple[int, ...]], int]] = {}
_ids = itertools.count(1)


class HostCaller:
    """The calling instance during one host call; `caller_memory` reads its memory.

    Invalid once the call returns (the trampoline clears it): wasmtime frees the caller.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: int | None) -> None:
        self.raw = raw


class CallerMemory:
    """The caller's exported memory during one host call: unchecked reads and writes at
    its base address; the caller checks ranges against `size()`. The guest cannot run,
    so cannot grow or move its memory, while the host function runs."""

    __slots__ = ("_base", "_size")

    def __init__(self, base: int, size: int) -> None:
        self._base = base
        self._size = size

    def size(self) -> int:
        """The memory's size in bytes."""
        return self._size

    def read(self, offset: int, length: int) -> bytes:
        """`length` bytes from `offset` (one copy, straight out of linear memory)."""
        return ctypes.string_at(self._base + offset, length)

    def write(self, offset: int, data: bytes) -> None:
        """Copy `data` to `offset`."""
        ctypes.memmove(self._base + offset, data, len(data))


M = TypeVar("M", bound=CallerMemory)


def caller_memory(caller: HostCaller, kind: type[M] = CallerMemory) -> M | None:  # type: ignore[assignment]
    """The calling instance's exported `memory` as a `kind` (None if it has none); valid
    only during the host call. Raises `ValueError` once the call has returned."""
    raw = caller.raw
    if raw is None:
        raise ValueError("the host call has returned: its caller is gone")
    item = (ctypes.c_char * _EXTERN_SIZE)()
    if not _caller_export_get(raw, _MEMORY, len(_MEMORY), item):
        return None
    if item[0][0] != _EXTERN_MEMORY:
        return None
    context = _caller_context(raw)
    memory = ctypes.byref(item, _EXTERN_OF)
    return kind(_memory_data(context, memory) or 0, _memory_data_size(context, memory))


@ctypes.CFUNCTYPE(ctypes.c_size_t, _ADDR, _ADDR, _ADDR, ctypes.c_size_t)  # type: ignore[untyped-decorator]
def _trampoline(env: int, caller_ptr: int, args: int, _count: int) -> int:
    caller = HostCaller(caller_ptr)
    try:
        func, unpack, size = _FUNCS[env]
        _RESULT(args).value = func(caller, *unpack(ctypes.string_at(args, size)))
        return 0
    except BaseException as exc:  # handed back to the caller, as wasmtime-py does
        _func.LAST_EXCEPTION = exc  # type: ignore[assignment]  # wasmtime-py stores any
        trap = wasmtime.Trap("python exception")._consume()
        return int(ctypes.cast(trap, ctypes.c_void_p).value or 0)
    finally:
        caller.raw = None


# The bindings' callback type, for `wasmtime_linker_define_func_unchecked`'s argument
# check: the same C signature with pointers spelled as addresses.
_CALLBACK = ctypes.cast(_trampoline, ffi.wasmtime_func_unchecked_callback_t)


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
    # Each i32 sits little-endian at the start of its 16-byte `wasmtime_val_raw_t`.
    unpack = struct.Struct("<" + f"i{_VAL_RAW - 4}x" * arity).unpack
    _FUNCS[ident] = (func, unpack, _VAL_RAW * arity)
    module_bytes, name_bytes = module.encode(), name.encode()
    error = ffi.wasmtime_linker_define_func_unchecked(
        linker.ptr(),
        ctypes.create_string_buffer(module_bytes),
        len(module_bytes),
        ctypes.create_string_buffer(name_bytes),
        len(name_bytes),
        ty.ptr(),
        _CALLBACK,
        ident,
        _finalize,
    )
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)
