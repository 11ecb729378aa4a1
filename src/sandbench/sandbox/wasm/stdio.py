"""WASI preview 1 `fd_write`, as the sandbox serves it (docs/abi.md, "Output").

wasmtime's `WasiConfig.stdout_custom` runs its Python callback on a worker thread: every
write then waits for a thread switch and the GIL (about 75 µs of a 150 µs hello request
here, milliseconds under load), and dropping a store with two custom streams costs more.
So the backend links this `fd_write` in place of WASI's, as an unchecked host function
(hostcall.py): it copies what a module writes to descriptors 1 and 2 from linear memory
straight into the capped sinks of the call in progress (`PollState.stdout` / `stderr`,
poll.py), in the calling thread.

- stdout past `limits.output` answers `EFBIG` and the call ends with an `output` violation;
  stderr past its cap is counted and dropped (`CappedOutput`);
- any other descriptor goes to WASI's own `fd_write` through files.py's adapter when the
  module imports `path_open` (a file it opened); without `path_open` a module holds no
  other writable descriptor, and the answer is `EBADF`, as WASI's (checked by
  tests/sandbox/test_wasm.py against wasmtime's own);
- iovecs or the result pointer outside linear memory answer `EFAULT`; a module without an
  exported `memory` traps, as with WASI's.

Unlike WASI's, all the iovecs of one call are written (WASI writes the first non-empty one
and lets libc loop). A descriptor renumbered from 1 or 2 (`fd_renumber`) leaves the sinks.
"""

from __future__ import annotations

import struct

import wasmtime

from sandbench.sandbox.budget import CappedOutput

from .fastcall import LinearMemory
from .files import forward_write
from .hostcall import caller_memory, define_i32_func
from .poll import current

__all__ = ["define_stdio"]

WASI = "wasi_snapshot_preview1"
_ESUCCESS, _EBADF, _EFAULT, _EFBIG = 0, 8, 21, 22
_IOVEC = struct.Struct("<II")
_U32 = struct.Struct("<I")


def define_stdio(linker: wasmtime.Linker) -> None:
    """Define the sandbox's `fd_write` on `linker` (shadowing WASI's; `allow_shadowing`
    must be on). Raises `wasmtime.WasmtimeError` if the linker refuses it."""
    define_i32_func(linker, WASI, "fd_write", 4, _fd_write)


def _fd_write(caller: wasmtime.Caller, fd: int, iovs: int, count: int, out: int) -> int:
    """`fd_write(fd, iovs, iovs_len, nwritten)`: the WASI errno (see the module docstring)."""
    if fd not in (1, 2):
        errno = forward_write(caller, (fd, iovs, count, out))
        return _EBADF if errno is None else errno
    memory = caller_memory(caller)
    if memory is None:
        raise wasmtime.WasmtimeError("missing required memory export")
    state = current()
    if state is None:  # no call armed on this thread: nothing may write (never expected)
        return _EBADF
    return _write(memory, state.stdout if fd == 1 else state.stderr, iovs, count, out)


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
