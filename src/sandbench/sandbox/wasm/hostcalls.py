"""`limits.hostcalls`: the host API calls one request may make.

Core modules (`sandbench:host/v1`): each host function is defined again, counted, over the
one `host.py` defines. Components (`sandbench:platform/host`): component.py wraps each of
its host functions with `counted` too. A call past the limit is not served, answers
`quota` (-3, or the `quota` error code) and is recorded as a denied call (detail
`past limits.hostcalls`), and the request ends with a `hostcalls` violation, whatever the
module does after. The count starts afresh with every call (and
with every instantiation: a reactor's `_initialize` has its own). Only a module that
imports the host namespace pays for it. See docs/abi.md, "Host calls per request".
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import wasmtime

from sandbench.hostapi import Code
from sandbench.sandbox.interface import SandboxLimits, Violation, hostcalls_violation

from .host import FUNCTIONS, NAMESPACE, current_host
from .hostcall import define_i32_func

__all__ = ["HostCallBudget", "HostCallGuard", "counted"]

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
    refusal: str = "quota (-3)"  # how a refusal reaches the module, for the message
    used: int = 0
    refused: int = 0

    def arm(self) -> None:
        """Start a call: nothing used or refused yet; make this budget this thread's."""
        self.used = self.refused = 0
        _current.set(self)

    def take(self, capability: str, action: str) -> bool:
        """Count one host call; False when it is past the limit: then it is refused,
        counted as such and recorded as a denied `capability` `action`."""
        if self.used < self.limit:
            self.used += 1
            return True
        self.refused += 1
        host = current_host()
        if host is not None:
            host.recorder.call(capability, action, "", Code.QUOTA, "past limits.hostcalls")
        return False

    def violation(self) -> Violation | None:
        """The `hostcalls` violation of a call that had host calls refused (None: none was)."""
        if not self.refused:
            return None
        return hostcalls_violation(self.refused, self.limit, self.refusal)


def counted(name: str, func: Callable[..., Any], refused: Any) -> Callable[..., Any]:
    """The host function `name` (`storage_read`, or a component's `storage-read`), counted
    against the running call's budget: past the limit it answers `refused` (its `quota`)
    unserved. Uncounted when no budget is armed (a component's instantiation)."""
    capability, action = _RECORDED.get(name.replace("-", "_"), ("host", name))

    def call(caller: Any, *args: Any) -> Any:
        budget = _current.get()
        if budget is not None and not budget.take(capability, action):
            return refused
        return func(caller, *args)

    return call


class HostCallGuard:
    """`limits.hostcalls` as a `LimitGuard` (guards.py); `refusal` is how a refused call
    reaches the module (the core ABI's -3, or a component's `quota` error code)."""

    limit = "hostcalls"

    def __init__(self, refusal: str = "quota (-3)") -> None:
        self.refusal = refusal

    def define(self, linker: wasmtime.Linker, engine: wasmtime.Engine) -> None:
        """Define every host function again, counted (the linker allows shadowing)."""
        for name, (arity, func) in FUNCTIONS.items():
            define_i32_func(linker, NAMESPACE, name, arity, counted(name, func, _QUOTA))

    def needed(self, imports: Collection[str]) -> bool:
        """Only a module that imports the host namespace makes host calls."""
        return any(name.startswith(f"{NAMESPACE}::") for name in imports)

    def state(self, limits: SandboxLimits) -> HostCallBudget:
        """A store's budget, against `limits.host_calls`."""
        return HostCallBudget(limits.host_calls, self.refusal)
