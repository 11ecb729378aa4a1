"""WASI preview 1 `fd_write`, as the sandbox serves it (docs/abi.md, "Output").

wasmtime's `WasiConfig.stdout_custom` runs its Python callback on a worker thread: every
write then waits for a thread switch and the GIL (about 75 µs of a 150 µs hello request
here, milliseconds under load), and dropping a store with two custom streams costs more.
So the backend links this `fd_write` in place of WASI's, as a raw unchecked host function
(`wasmtime_linker_define_func_unchecked`; hostcall.py's general trampoline costs some 7 µs
more a write): it copies what a module writes to descriptors 1 and 2 from linear memory
straight into the capped sinks of the call in progress (`PollState.stdout` / `stderr`,
poll.py), in the calling thread. The guest's memory is looked up once per store (a command
request hands it over found: command.py).

- stdout past `limits.output` answers `EFBIG` and the call ends with an `output` violation;
  stderr past its cap is counted and dropped (`CappedOutput`);
- any other descriptor goes to WASI's own `fd_write` through files.py's adapter when the
  module imports `path_open` (a file it opened); without `path_open` a module holds no
  other writable descriptor, and the answer is `EBADF`, as WASI's (checked against
  wasmtime's own by tests/sandbox/test_wasm_stdio.py);
- iovecs or the result pointer outside linear memory answer `EFAULT`; a module without an
  exported `memory` traps, as with WASI's.

Unlike WASI's, all the iovecs of one call are written (WASI writes the first non-empty one
and lets libc loop). `fd_renumber` onto or away from 1 and 2 is not followed: writes to 1
and 2 always reach the sinks.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any, cast

import wasmtime
from wasmtime import _bindings as ffi
from wasmtime import _ffi, _func

from sandbench.sandbox.budget import CappedOutput

from .fastcall import LinearMemory
from .files import forward_write
from .poll import PollState, current

__all__ = ["define_stdio"]

WASI = "wasi_snapshot_preview1"
_ESUCCESS, _EBADF, _EFAULT, _EFBIG = 0, 8, 21, 22
_IOVEC = struct.Struct("<II")
_U32 = struct.Struct("<I")
_MEMORY = b"memory"
_EXTERN_MEMORY = _ffi.WASMTIME_EXTERN_MEMORY.value


def define_stdio(linker: wasmtime.Linker) -> None:
    """Define the sandbox's `fd_write` on `linker` (shadowing WASI's; `allow_shadowing`
    must be on). Raises `wasmtime.WasmtimeError` if the linker refuses it."""
    i32 = wasmtime.ValType.i32()
    ty = wasmtime.FuncType([i32] * 4, [i32])
    module, name = WASI.encode(), b"fd_write"
    error = ffi.wasmtime_linker_define_func_unchecked(
        linker.ptr(), module, len(module), name, len(name), ty.ptr(), _fd_write, None, _NONE
    )
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)


@ffi.wasmtime_func_unchecked_callback_t  # type: ignore[untyped-decorator]
def _fd_write(_env: int, caller: Any, args: Any, _count: int) -> int:
    """`fd_write(fd, iovs, iovs_len, nwritten)` from wasmtime's raw argument array; the
    errno goes back in its first slot. An exception becomes a trap that re-raises it
    (wasmtime-py's `LAST_EXCEPTION`, as hostcall.py does)."""
    try:
        args[0].i32 = _errno(caller, args[0].i32, args[1].i32, args[2].i32, args[3].i32)
        return 0
    except BaseException as exc:
        _func.LAST_EXCEPTION = exc  # type: ignore[assignment]  # wasmtime-py stores any
        trap = wasmtime.Trap("python exception")._consume()
        return int(ctypes.cast(trap, ctypes.c_void_p).value or 0)


def _errno(caller: Any, fd: int, iovs: int, count: int, out: int) -> int:
    if fd not in (1, 2):
        wrapped = wasmtime.Caller(caller)
        try:
            errno = forward_write(wrapped, (fd, iovs, count, out))
        finally:
            wrapped._invalidate()
        return _EBADF if errno is None else errno
    state = current()
    if state is None:  # no call armed on this thread: nothing may write (never expected)
        return _EBADF
    memory = state.memory or _find_memory(caller, state)
    return _write(memory, state.stdout if fd == 1 else state.stderr, iovs, count, out)


def _find_memory(caller: Any, state: PollState) -> LinearMemory:
    """The caller's exported memory, kept in `state` for the store's later writes."""
    item = ffi.wasmtime_extern_t()
    found = ffi.wasmtime_caller_export_get(caller, _MEMORY, len(_MEMORY), ctypes.byref(item))
    if not found or cast(int, item.kind) != _EXTERN_MEMORY:  # a ctypes field reads as an int
        raise wasmtime.WasmtimeError("missing required memory export")
    memory = state.memory = LinearMemory(state.store._context(), item.of.memory)
    return memory


def _write(memory: LinearMemory, sink: CappedOutput, iovs: int, count: int, out: int) -> int:
    """Copy the iovecs at `iovs` into `sink` and the count to `out`; the WASI errno."""
    size = memory.size()
    iovs, count, out = iovs & 0xFFFFFFFF, count & 0xFFFFFFFF, out & 0xFFFFFFFF
    if iovs + count * 8 > size or out + 4 > size:
        return _EFAULT
    vectors = memory.read(iovs, count * 8)
    written = 0
    for index in range(count):
        start, length = _IOVEC.unpack_from(vectors, index * 8)
        if start + length > size:
            return _EFAULT
        if not length:
            continue
        kept = sink(memory.read(start, length))
        if kept < 0:  # past the cap
            if written:
                break  # a short write; the next call fails
            return _EFBIG
        written += kept
        if kept < length:
            break
    memory.write(out, _U32.pack(written))
    return _ESUCCESS


_NONE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)()  # no finalizer: the callback is global
