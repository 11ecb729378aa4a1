"""`limits.hostcalls`: the host API calls (`sandbench:host/v1`) one request may make.

Each host function is defined again, counted, over the one `host.py` defines: a call past
the limit is not served, returns `quota` (-3) and is recorded as a denied call (detail
`past limits.hostcalls`), and the request ends with a `hostcalls` violation, whatever the
module does after. The count starts afresh with every call (and
with every instantiation: a reactor's `_initialize` has its own). Only a module that
imports the host namespace pays for it. See docs/abi.md, "Host calls per request".
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextvars import ContextVar
from dataclasses import dataclass

import wasmtime

from sandbench.hostapi import Code
from sandbench.sandbox.interface import SandboxLimits, Violation, hostcalls_violation

from .host import FUNCTIONS, NAMESPACE, current_host
from .hostcall import define_i32_func

__all__ = ["HostCallBudget", "HostCallGuard"]

_QUOTA = int(Code.QUOTA)
# How a refused call is recorded: the capability and action its function serves.
_RECORDED = {
    "log": ("log", "log"),
    "http_fetch": ("http", "fetch"),
    "storage_read": ("storage", "read"),
    "storage_write": ("storage", "write"),
    "storage_list": ("storage", "list"),
    "db_query": ("database", "query"),
    "db_execute": ("database", "execute"),
}
_current: ContextVar[HostCallBudget | None] = ContextVar("sandbench_hostcalls", default=None)


@dataclass(slots=True)
class HostCallBudget:
    """The host calls of the running call, against `limit` (`limits.hostcalls`)."""

    limit: int
    used: int = 0
    refused: int = 0

    def arm(self) -> None:
        """Start a call: nothing used or refused yet; make this budget this thread's."""
        self.used = self.refused = 0
        _current.set(self)

    def violation(self) -> Violation | None:
        """The `hostcalls` violation of a call that had host calls refused (None: none was)."""
        if not self.refused:
            return None
        return hostcalls_violation(self.refused, self.limit, "quota (-3)")


def _counted(name: str, func: Callable[..., int]) -> Callable[..., int]:
    capability, action = _RECORDED.get(name, ("host", name))

    def call(caller: wasmtime.Caller, *args: int) -> int:
        budget = _current.get()
        if budget is not None:
            if budget.used >= budget.limit:
                budget.refused += 1
                return _refuse(capability, action)
            budget.used += 1
        return func(caller, *args)

    return call


def _refuse(capability: str, action: str) -> int:
    host = current_host()
    if host is not None:
        host.recorder.call(capability, action, "", Code.QUOTA, "past limits.hostcalls")
    return _QUOTA


class HostCallGuard:
    """`limits.hostcalls` as a `LimitGuard` (guards.py)."""

    limit = "hostcalls"

    def define(self, linker: wasmtime.Linker, engine: wasmtime.Engine) -> None:
        """Define every host function again, counted (the linker allows shadowing)."""
        for name, (arity, func) in FUNCTIONS.items():
            define_i32_func(linker, NAMESPACE, name, arity, _counted(name, func))

    def needed(self, imports: Collection[str]) -> bool:
        """Only a module that imports the host namespace makes host calls."""
        return any(name.startswith(f"{NAMESPACE}::") for name in imports)

    def state(self, limits: SandboxLimits) -> HostCallBudget:
        """A store's budget, against `limits.host_calls`."""
        return HostCallBudget(limits.host_calls)
