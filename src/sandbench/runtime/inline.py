"""Calls the gateway makes on the event loop's own thread, when that is safe.

Handing a call to a worker thread and back costs two thread wake-ups: 30-170 µs per
request on a busy 2-core machine, more than a reactor call itself (25 µs). A call made on
the loop's thread costs none, but holds up every other request meanwhile, so it is made
only where its length is bounded and cutting it short loses nothing:

- the module runs in the WASM sandbox (fuel and the epoch deadline stop it) and declares
  no permissions: no host API, no storage, so a call has no effect outside its instance;
- the call runs on an instance of its own, loaded with the module's limits but a timeout
  of `INLINE_TIMEOUT_MS`: fuel for that much CPU at the module's learnt rate, and an
  epoch deadline of two ticks (10-20 ms of wall time, the longest the loop is held up);
- a call cut short by those limits (a `cpu` or `timeout` violation) is not an answer: the
  gateway makes it again on a worker thread with the module's own limits, and sends the
  module's calls to the threads for a back-off (1 s, doubling up to `MAX_BACKOFF_S`, back
  to 1 s after `FORGIVE_AFTER` inline answers in a row). On a busy machine a fast call is
  sometimes cut short only because its thread lost its core for a tick (about once in
  3,000 calls at load average 10 here): a timeout where the module used less than half
  the inline time in CPU and sleep brings no back-off.

The instance shares the module's CPU share (the WASM backend keys the share by module and
cpu limit, not timeout), so a call cut short is charged like any other. What is lost is
what the inline instance held in memory (a reactor's caches), as after any violation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sandbench.manifests import ModulePackage
from sandbench.sandbox import (
    Grants,
    Instance,
    Outcome,
    Request,
    SandboxBackend,
    SandboxLimits,
    ViolationKind,
)

__all__ = ["FORGIVE_AFTER", "INLINE_TIMEOUT_MS", "MAX_BACKOFF_S", "Inline"]

INLINE_TIMEOUT_MS = 5
MAX_BACKOFF_S = 60.0
FORGIVE_AFTER = 100
_CUT_SHORT = (ViolationKind.CPU, ViolationKind.TIMEOUT)
_THREADED: tuple[None, float] = (None, 0.0)  # the call is for a worker thread, no CPU spent


@dataclass(slots=True)  # slots: its counters are updated on every inline call
class Inline:
    """A module's instance for calls on the event loop's thread, and its back-off."""

    limits: SandboxLimits
    instance: Instance | None = None
    resume_at: float = 0.0  # `time.monotonic()` before which calls go to the threads; 0: none
    backoff_s: float = 1.0
    calls: int = 0
    cut_short: int = 0
    streak: int = 0  # inline answers since the last call cut short
    preempted: int = 0  # of `cut_short`: past the deadline while the module used little of it

    @classmethod
    def of(
        cls, package: ModulePackage, limits: SandboxLimits, backend: SandboxBackend
    ) -> Inline | None:
        """The inline state for a module, or None when its calls must not run inline."""
        if backend.name != "wasm" or package.manifest.security.permissions:
            return None
        timeout = min(INLINE_TIMEOUT_MS, limits.timeout_ms)
        return cls(limits=limits.model_copy(update={"timeout_ms": timeout}))

    def load(self, backend: SandboxBackend, package: ModulePackage, grants: Grants) -> None:
        """Load the inline instance (not on the event loop: loading may compile); none when
        it cannot load, for whatever reason (its calls then all go to the threads)."""
        try:
            self.instance = backend.load(package, self.limits, grants).instance
        except Exception:  # a host fault: the module is served from the threads alone
            self.instance = None

    def call(self, request: Request) -> tuple[Outcome | None, float]:
        """The module's answer to `request`, made on this thread, or None when the caller
        must make the call on a worker thread (no instance, backing off, cut short, or a
        host fault, after which the instance is closed and dropped); and the CPU ms a call
        cut short used (charged to the module's share already)."""
        instance = self.instance
        if instance is None:
            return _THREADED
        if self.resume_at:  # backing off, or was (the clock is read only then)
            if time.monotonic() < self.resume_at:
                return _THREADED
            self.resume_at = 0.0
        try:
            outcome = instance.invoke(request)
        except Exception:  # a host fault: the threads' instances take this call
            self.instance = None
            instance.close()
            return _THREADED
        violation = outcome.violation
        if violation is None or violation.kind not in _CUT_SHORT:
            self.calls += 1
            self.streak += 1
            if self.streak == FORGIVE_AFTER:
                self.backoff_s = 1.0
            return outcome, 0.0
        self.cut_short += 1
        usage = outcome.usage
        if violation.kind is ViolationKind.TIMEOUT and (
            usage.cpu_ms + usage.slept_ms < self.limits.timeout_ms / 2
        ):
            # Past the deadline without using it (no CPU, no sleep): the thread lost its
            # core. Not the module's doing, so no back-off.
            self.preempted += 1
            return None, usage.cpu_ms
        self.streak = 0
        self.resume_at = time.monotonic() + self.backoff_s
        self.backoff_s = min(MAX_BACKOFF_S, self.backoff_s * 2)
        return None, usage.cpu_ms

    def close(self) -> None:
        """Close the instance. Closing twice is harmless."""
        if self.instance is not None:
            self.instance.close()
            self.instance = None
