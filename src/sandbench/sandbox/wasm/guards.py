"""Where a limit's enforcement plugs into the WASM backend: one `LimitGuard` per limit.

A guard enforces one row of `manifests.LIMITS` that wasmtime cannot enforce itself, from
host functions it defines on the backend's linker (shadowing WASI's or the host API's, or
adding its own). Its life in the backend:

    backend start   guard.define(linker, engine)        once per engine, in `GUARDS` order
    backend.load    guard.needed(imports)                a module that cannot reach it pays nothing
    new store       guard.state(limits) -> GuardState    kept on the store's `Call`
    each call       state.arm()                          reset the per-call part; make it current
    after the call  state.violation()                    the first one replaces the outcome's

The host functions find their state from a `ContextVar` the guard sets in `arm`; every
call runs in a context of its own (`guarded`, `own_context`), so nothing armed outlives
the call or leaks to another instance on the same thread. A guard reports a broken limit
only through `violation()`: the call's outcome then carries that violation and no
response, whatever the module did after being refused.

A new limit's WASM enforcement is one module with one guard, and one line in `GUARDS`.

Components (component.py) link WASI 0.2 and their host interface on a component linker:
`define` does not apply to them. Their host functions are counted by `hostcalls` directly,
so a component that imports the host interface gets `COMPONENT_GUARDS`' states, armed and
read as above. `files` cannot be among them: wasmtime links WASI 0.2 whole, natively
(`Linker.add_wasip2`), and a Python function shadowing `open-at` could neither call that
implementation nor make the `descriptor` it must return (docs/abi.md, "Open files").
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextvars import ContextVar, copy_context
from typing import Protocol, TypeVar

import wasmtime

from sandbench.sandbox.interface import Outcome, SandboxLimits, Violation

from .files import FileGuard
from .hostcalls import HostCallGuard

__all__ = [
    "COMPONENT_GUARDS",
    "GUARDS",
    "GuardState",
    "LimitGuard",
    "arm_all",
    "define_guards",
    "guarded",
    "guards_for",
    "own_context",
]

_T = TypeVar("_T")


class GuardState(Protocol):
    """One store's book-keeping for one guard."""

    def arm(self) -> None:
        """Start a call: reset what is counted per call and make this state current on
        the thread that runs it (the guard's host functions read it from there)."""
        ...  # pragma: no cover

    def violation(self) -> Violation | None:
        """The violation of the call since `arm`, or None when the limit held."""
        ...  # pragma: no cover


class LimitGuard(Protocol):
    """The WASM enforcement of the limit `limit` (a `manifests.LIMITS` name)."""

    limit: str

    def define(self, linker: wasmtime.Linker, engine: wasmtime.Engine) -> None:
        """Define the guard's host functions on the backend's linker (shadowing allowed).
        Raises `wasmtime.WasmtimeError` if the linker refuses them."""
        ...  # pragma: no cover

    def needed(self, imports: Collection[str]) -> bool:
        """Whether a core module importing `imports` (`module::name`) can reach the guard."""
        ...  # pragma: no cover

    def state(self, limits: SandboxLimits) -> GuardState:
        """A new store's state under `limits`."""
        ...  # pragma: no cover


GUARDS: tuple[LimitGuard, ...] = (FileGuard(), HostCallGuard())
# The guards of a component that imports the host interface (see the module docstring).
COMPONENT_GUARDS: tuple[LimitGuard, ...] = (HostCallGuard("the error code quota"),)

_armed: ContextVar[tuple[GuardState, ...]] = ContextVar("sandbench_guards", default=())


def define_guards(linker: wasmtime.Linker, engine: wasmtime.Engine) -> None:
    """Define every guard's host functions on `linker`, after the functions they shadow."""
    for guard in GUARDS:
        guard.define(linker, engine)


def guards_for(imports: Collection[str]) -> tuple[LimitGuard, ...]:
    """The guards a core module with these imports needs (often none)."""
    return tuple(guard for guard in GUARDS if guard.needed(imports))


def arm_all(states: tuple[GuardState, ...]) -> None:
    """Arm each state for the next call and remember them for `guarded`."""
    for state in states:
        state.arm()
    _armed.set(states)


def own_context(run: Callable[[], _T]) -> _T:
    """`run()` in a copy of this thread's context: states armed inside are forgotten after
    it (no store outlives its call)."""
    return copy_context().run(run)


def guarded(invoke: Callable[[], Outcome]) -> Outcome:
    """`invoke()` in a context of its own; when a guard armed during it reports a
    violation, the first one (in `GUARDS` order) replaces the outcome's, without a response."""

    def run() -> Outcome:
        outcome = invoke()
        for state in _armed.get():
            violation = state.violation()
            if violation is not None:
                return outcome.model_copy(update={"violation": violation, "response": None})
        return outcome

    return own_context(run)
