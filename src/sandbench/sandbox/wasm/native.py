"""A reactor call in one crossing into native code: `_native.c`, sandbench's C extension.

`fastcall.py` calls wasmtime's C functions one by one through ctypes; each crossing
converts its arguments in Python, and a reactor call needs a dozen of them (fuel,
deadline, clocks, alloc, memory size and base, the copy in, handle, the copy out, fuel
left). `NativeReactor` does all of them in one call of the extension, with the clocks
around it and the module's CPU share checked and charged (the bucket of budget.py's
`CpuShare`), and returns numbers: the caller (reactor.py) raises and classifies exactly as
on the other paths. `envelope` builds the request's bytes (cgi.py's `request_envelope`).

The extension is built with the package (setup.py); it takes wasmtime's functions from
the library wasmtime-py loaded, so it follows the pinned wasmtime. There is no slow
fallback that would hide a broken build: without the extension, `require()` raises
`BackendUnavailable` with one line saying so, and the WASM backend does not start.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from types import ModuleType
from typing import Any, Final, TypeVar

import wasmtime
from pydantic import BaseModel
from wasmtime import _bindings as ffi
from wasmtime._ffi import dll

from sandbench.errors import BackendUnavailable
from sandbench.sandbox.budget import WINDOW_S, CpuShare
from sandbench.sandbox.interface import Request

from .store import TICK_MS

__all__ = ["NativeReactor", "Status", "Ticker", "envelope", "made", "require"]

M = TypeVar("M", bound=BaseModel)

Result = tuple[int, int, int, int, bytes | None, float, float, int, int]

# The C functions `_native.init` takes, in its order (see the header of _native.c).
_FUNCTIONS = (
    "wasmtime_func_call_unchecked",
    "wasmtime_context_set_fuel",
    "wasmtime_context_get_fuel",
    "wasmtime_context_set_epoch_deadline",
    "wasmtime_memory_data",
    "wasmtime_memory_data_size",
    "wasmtime_engine_increment_epoch",
)


def _load() -> tuple[ModuleType | None, str]:
    """The initialised extension, or None and why it is missing."""
    try:
        from . import _native
    except ImportError as exc:
        return None, str(exc)
    at = [ctypes.cast(dll[name], ctypes.c_void_p).value or 0 for name in _FUNCTIONS]
    _native.init(
        at[0], at[1], at[2], at[3], at[4], at[5], at[6], ctypes.sizeof(ffi.wasmtime_val_raw_t)
    )
    slots = BaseModel.__dict__  # the slots `sandbench._construct` sets, set the same way
    _native.init_models(
        BaseModel,
        slots["__dict__"],
        slots["__pydantic_fields_set__"],
        slots["__pydantic_extra__"],
        slots["__pydantic_private__"],
    )
    return _native, ""


_module, _why = _load()
_reactor_call: Callable[..., Result] | None = _module.reactor_call if _module else None

try:
    from ._native import envelope, made
except ImportError:  # `require()` says why; nothing runs a reactor without it

    def made(cls: type[M], fields: dict[str, Any], fields_set: AbstractSet[str], /) -> M:
        """`_native.made`, missing: see `require`."""
        require()
        raise AssertionError("unreachable")  # pragma: no cover

    def envelope(request: Request, /) -> bytes:
        """`_native.envelope`, missing: see `require`."""
        require()
        raise AssertionError("unreachable")  # pragma: no cover


def require() -> None:
    """Raise `BackendUnavailable` (one line) if the extension did not load."""
    if _reactor_call is None:
        raise BackendUnavailable(
            "wasm",
            f"sandbench's compiled part sandbench.sandbox.wasm._native did not load ({_why}); "
            "reinstall sandbench (`pip install -e .` or the wheel), which builds it with gcc "
            "and the Python headers",
        )


class Ticker:
    """Advances the engines' epoch by one every `TICK_MS` of wall time until stopped: a
    thread of `_native.c` (its ticker section) that never takes the GIL.

    The ticks are counted from the clock, not from the wakeups: on a busy machine a wakeup
    comes late, and counting wakeups stretched a 30 s timeout to 40-60 s. A late wakeup
    adds every tick that came due; `owed` is what is due and not yet added, which a call
    armed in between adds to its deadline so that the catch-up does not cut it short (the
    native reactor call reads it in C from `handle`). The ticker keeps its engines alive
    until it is gone; `stop` joins the thread. Raises `BackendUnavailable` without the
    extension, and RuntimeError when used (but for `stop`) in a process forked after it
    started.
    """

    def __init__(self, engine: wasmtime.Engine) -> None:
        require()
        assert _module is not None  # noqa: S101 - require() raised otherwise
        self._native = _module
        self.handle: object = _module.ticker_new(engine, _engine_address(engine), round(TICK_MS))
        # `owed(now=None)`: ticks due by `now` (a `time.monotonic()` value; None: now) and
        # not yet added. A partial, not a method: every checked call asks (instances.py).
        self.owed: functools.partial[int] = functools.partial(_module.ticker_owed, self.handle)

    @property
    def start(self) -> float:
        """When the ticks start, as a `time.monotonic()` value."""
        return float(self._native.ticker_start(self.handle))

    def catch_up(self, now: float) -> int:
        """Add the ticks due by `now` (a `time.monotonic()` value); how many were added."""
        return int(self._native.ticker_catch_up(self.handle, now))

    def stop(self) -> None:
        """Stop the thread and join it (at once: it sleeps on a condition); twice is fine."""
        self._native.ticker_stop(self.handle)

    def expire_all(self) -> None:
        """Pass every deadline a call can have (an hour of ticks): running calls trap now."""
        self._native.ticker_expire_all(self.handle)

    def add(self, engine: wasmtime.Engine) -> None:
        """Advance `engine`'s epoch too, from the next tick on."""
        self._native.ticker_add(self.handle, engine, _engine_address(engine))


def _engine_address(engine: wasmtime.Engine) -> int:
    """The address of `engine`'s wasm_engine_t (valid while `engine` lives)."""
    return ctypes.cast(engine.ptr(), ctypes.c_void_p).value or 0


class Status:
    """`_native.reactor_call`'s status codes (the enum of _native.c)."""

    OK: Final = 0
    FUEL_ERROR: Final = 1  # a: the error
    ALLOC_FAILED: Final = 2  # a: error, b: trap
    ALLOC_BAD: Final = 3  # a: the pointer (<= 0)
    ALLOC_OUTSIDE: Final = 4  # a: pointer, b: memory size
    HANDLE_FAILED: Final = 5  # a: error, b: trap
    OVER_CAP: Final = 6  # a: output length
    OUT_OUTSIDE: Final = 7  # a: pointer, b: length, c: memory size
    IN_DEBT: Final = 8  # the module's CPU share is in debt: nothing ran, nothing charged


class NativeReactor(functools.partial[Result]):
    """One live reactor instance's exports, called through the extension:
    `reactor(fuel, request, check)` is `reactor_call` of _native.c with the store, the
    exports, the memory and the instance's limits filled in (a `partial`, so that the call
    adds no Python frame): `ticks` of epoch deadline (plus the `ticker`'s owed ones), at
    most `cap` bytes of output, and the module's CPU `share`, which the call checks when
    `check` is true (status IN_DEBT: nothing ran) and charges with the CPU it used. A share
    on another clock than the monotonic one (`CpuShare.native`) is left to the caller.

    Only for exports whose types `fastcall.exact_type` accepted: alloc (i32) -> i32,
    handle (i32, i32) -> i64. Holds the store and the export objects so that the
    addresses it passes stay valid; use it only while the store is open and under the
    instance's lock (the reactor discards them together).
    """

    keep: tuple[wasmtime.Store, wasmtime.Memory, wasmtime.Func, wasmtime.Func]
    charges: bool  # whether the call charges the share itself

    def __new__(
        cls,
        exports: tuple[wasmtime.Store, wasmtime.Memory, wasmtime.Func, wasmtime.Func],
        ticks: int,
        cap: int,
        ticker: object,
        share: CpuShare,
    ) -> NativeReactor:
        require()
        assert _reactor_call is not None  # noqa: S101 - require() raised otherwise
        store, memory, alloc, handle = exports
        bucket = share.bucket if share.native else None
        reactor = super().__new__(
            cls,
            _reactor_call,
            ctypes.cast(store._context(), ctypes.c_void_p).value,
            ctypes.addressof(alloc._func),
            ctypes.addressof(handle._func),
            ctypes.addressof(memory._memory),
            ticks,
            cap,
            ticker,
            bucket,
            share.rate,
            WINDOW_S,
        )
        reactor.keep = exports
        reactor.charges = bucket is not None
        return reactor
