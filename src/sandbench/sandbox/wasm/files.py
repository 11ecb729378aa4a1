"""WASI preview 1 `path_open` and `fd_close`, counted against `limits.files` (docs/abi.md,
"Open files").

wasmtime's WASI puts no cap on the descriptors a module opens, so the backend links these
two in place of its own: `path_open` past the limit answers `EMFILE` (33) and the call ends
with a `files` violation; a successful `fd_close` gives the slot back. Descriptors the module
did not open itself (stdin, stdout, stderr, the preopened buckets) take no slot, and
`fd_renumber` moves a slot with its descriptor (a renumbered file still counts).

The same adapter also forwards `fd_write`: stdio.py serves stdout and stderr itself and
sends the module's writes to files it opened to WASI's own (`forward_write`).

A host function cannot simply call WASI's own `path_open`: WASI reads its arguments from
the memory of the *calling instance*, and a call made by the host has none. So the first
open in a store instantiates there a tiny adapter module that imports the guest's memory,
exports it as `memory` and forwards both calls to WASI's functions: WASI then sees the
adapter as its caller, and the guest's memory as its memory. (The store allows two core
instances for it.)

The counter is per store (`FileSlots`), made current on the thread that runs the call by
`FileSlots.arm`, in a context of the call's own: `FileGuard` is the limit's `LimitGuard`
(guards.py).
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Collection
from contextvars import ContextVar
from dataclasses import dataclass, field

import wasmtime
from wasmtime import _bindings as ffi

from sandbench.sandbox.interface import SandboxLimits, Violation, ViolationKind

from .fastcall import raise_failure

__all__ = ["FileGuard", "FileSlots", "forward_write"]

WASI = "wasi_snapshot_preview1"
_EFAULT, _EMFILE = 21, 33
_OPEN_PARAMS = ("i32",) * 5 + ("i64", "i64", "i32", "i32")
_ADAPTER = f"""(module
  (import "{WASI}" "path_open" (func $open (param {" ".join(_OPEN_PARAMS)}) (result i32)))
  (import "{WASI}" "fd_close" (func $close (param i32) (result i32)))
  (import "{WASI}" "fd_renumber" (func $renumber (param i32 i32) (result i32)))
  (import "{WASI}" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "guest" "memory" (memory 0))
  (export "memory" (memory 0))
  (func (export "path_open") (param {" ".join(_OPEN_PARAMS)}) (result i32)
    (call $open {" ".join(f"(local.get {i})" for i in range(len(_OPEN_PARAMS)))}))
  (func (export "fd_close") (param i32) (result i32) (call $close (local.get 0)))
  (func (export "fd_renumber") (param i32 i32) (result i32)
    (call $renumber (local.get 0) (local.get 1)))
  (func (export "fd_write") (param i32 i32 i32 i32) (result i32)
    (call $write (local.get 0) (local.get 1) (local.get 2) (local.get 3))))"""
_FORWARDED = ("path_open", "fd_close", "fd_renumber", "fd_write")
_KINDS = {len(_OPEN_PARAMS): _OPEN_PARAMS, 1: ("i32",), 2: ("i32", "i32"), 4: ("i32",) * 4}

_current: ContextVar[FileSlots | None] = ContextVar("sandbench_files", default=None)


@dataclass
class FileSlots:
    """The descriptors a store's module holds open, against `limit` (`limits.files`)."""

    limit: int
    open: set[int] = field(default_factory=set)
    refused: int = 0
    forward: tuple[wasmtime.Func, ...] = ()

    def arm(self) -> None:
        """Start a call: no open refused yet; make these slots this thread's."""
        self.refused = 0
        _current.set(self)

    def violation(self) -> Violation | None:
        """The `files` violation of a call that had opens refused (None: none was)."""
        if not self.refused:
            return None
        return Violation(
            kind=ViolationKind.FILES,
            message=f"{self.refused} file open(s) refused with EMFILE: the module already "
            f"held limits.files ({self.limit}) open; close files when done or raise "
            "limits.files",
        )


def forward_write(caller: wasmtime.Caller, args: tuple[int, int, int, int]) -> int | None:
    """WASI's own `fd_write(*args)` for the store of `caller` (stdio.py sends it the
    descriptors other than stdout and stderr): its errno, or None when the store has never
    opened, closed or renumbered a file (then only stdio and the preopened folders exist,
    and WASI answers EBADF for those)."""
    slots = _current.get()
    if slots is None or not slots.forward:
        return None
    return _call_unchecked(caller, slots.forward[3], args)


def _call_unchecked(caller: wasmtime.Caller, func: wasmtime.Func, args: tuple[int, ...]) -> int:
    """Call one of the adapter's exports (their types are fixed by `_ADAPTER`) through
    `wasmtime_func_call_unchecked`: `Func.__call__` looks the type up and converts each of
    path_open's nine parameters in Python, most of an open's cost. Private wasmtime-py API,
    as in fastcall.py; raises what `Func.__call__` raises."""
    raw = (ffi.wasmtime_val_raw_t * len(args))()
    for slot, (kind, value) in enumerate(zip(_KINDS[len(args)], args, strict=True)):
        setattr(raw[slot], kind, value)
    trap = ctypes.POINTER(ffi.wasm_trap_t)()
    error = ffi.wasmtime_func_call_unchecked(
        caller._context(), ctypes.byref(func._func), raw, len(args), ctypes.byref(trap)
    )
    raise_failure(error, trap)
    return int(raw[0].i32)


class _Counted:
    """The shadowing functions: WASI's own, reached through the adapter, and counted."""

    def __init__(self, engine: wasmtime.Engine) -> None:
        self._adapter = wasmtime.Module(engine, _ADAPTER)
        self._wasi = wasmtime.Linker(engine)
        self._wasi.define_wasi()

    def _funcs(self, caller: wasmtime.Caller, slots: FileSlots | None) -> tuple[wasmtime.Func, ...]:
        """WASI's functions (`_FORWARDED`) for this store; () without a guest memory."""
        if slots is not None and slots.forward:
            return slots.forward
        memory = caller.get("memory")
        if not isinstance(memory, wasmtime.Memory):
            return ()
        real = [self._wasi.get(caller, WASI, name) for name in _FORWARDED]
        exports = wasmtime.Instance(caller, self._adapter, [*real, memory]).exports(caller)
        funcs = tuple(f for f in (exports[n] for n in _FORWARDED) if isinstance(f, wasmtime.Func))
        if slots is not None:
            slots.forward = funcs
        return funcs

    def path_open(self, caller: wasmtime.Caller, *args: int) -> int:
        slots = _current.get()
        funcs = self._funcs(caller, slots)
        if not funcs:
            return _EFAULT
        if slots is not None and len(slots.open) >= slots.limit:
            slots.refused += 1
            return _EMFILE
        errno = _call_unchecked(caller, funcs[0], args)
        memory = caller.get("memory")
        if errno == 0 and slots is not None and isinstance(memory, wasmtime.Memory):
            out = args[-1] & 0xFFFFFFFF
            slots.open.add(struct.unpack("<I", memory.read(caller, out, out + 4))[0])
        return errno

    def fd_close(self, caller: wasmtime.Caller, fd: int) -> int:
        slots = _current.get()
        funcs = self._funcs(caller, slots)
        if not funcs:
            return _EFAULT
        errno = _call_unchecked(caller, funcs[1], (fd,))
        if errno == 0 and slots is not None:
            slots.open.discard(fd & 0xFFFFFFFF)
        return errno

    def fd_renumber(self, caller: wasmtime.Caller, fd: int, to: int) -> int:
        slots = _current.get()
        funcs = self._funcs(caller, slots)
        if not funcs:
            return _EFAULT
        errno = _call_unchecked(caller, funcs[2], (fd, to))
        if errno == 0 and slots is not None:
            moved = fd & 0xFFFFFFFF in slots.open
            slots.open -= {fd & 0xFFFFFFFF, to & 0xFFFFFFFF}  # `to` was closed, if open
            if moved:
                slots.open.add(to & 0xFFFFFFFF)
        return errno


class FileGuard:
    """`limits.files` as a `LimitGuard` (guards.py): counted `path_open`, `fd_close` and
    `fd_renumber` shadow wasmtime's, for modules that import `path_open`."""

    limit = "files"

    def define(self, linker: wasmtime.Linker, engine: wasmtime.Engine) -> None:
        """Define the counted functions on `linker`. Raises `wasmtime.WasmtimeError` if the
        linker refuses them."""
        counted = _Counted(engine)
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
        kinds = {"i32": i32, "i64": i64}
        types = {
            "path_open": wasmtime.FuncType([kinds[k] for k in _OPEN_PARAMS], [i32]),
            "fd_close": wasmtime.FuncType([i32], [i32]),
            "fd_renumber": wasmtime.FuncType([i32, i32], [i32]),
        }
        for name, ty in types.items():
            linker.define_func(WASI, name, ty, getattr(counted, name), access_caller=True)

    def needed(self, imports: Collection[str]) -> bool:
        """A module that cannot open a file has none to count."""
        return f"{WASI}::path_open" in imports

    def state(self, limits: SandboxLimits) -> FileSlots:
        """A store's slots, against `limits.files`."""
        return FileSlots(limits.files)
