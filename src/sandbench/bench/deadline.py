"""A run's overall deadline (the gate's): steps ask it before they start, sandbox calls are
cut to it, and what it stopped is noted in `cut` for the report.

Under a deadline no further warm load (health call) starts once the loads (calls) took
`STEP_S`: a module that slow fails `load-time` (`latency-p95`) anyway, and each load or call
may take its whole timeout.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from sandbench.sandbox import SandboxBackend, SandboxLimits

__all__ = ["STEP_S", "Deadline", "starts", "within"]

STEP_S = 5.0


@dataclass
class Deadline:
    """`limit_s` seconds from `started` (a `time.monotonic()` value); `cut` names the steps
    it stopped, in order."""

    limit_s: float
    started: float = field(default_factory=time.monotonic)
    cut: list[str] = field(default_factory=list)

    @property
    def at(self) -> float:
        """The deadline as a `time.monotonic()` value."""
        return self.started + self.limit_s

    def left_s(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - time.monotonic()

    def elapsed_s(self) -> float:
        """Seconds since `started`."""
        return time.monotonic() - self.started

    def starts(self, step: str, needs_s: float = 0.0) -> bool:
        """False (and `step` noted as cut) when no more than `needs_s` is left."""
        if self.left_s() > needs_s:
            return True
        self.cut.append(f"{step} (not started)")
        return False

    def step_until(self) -> float:
        """When a step starting now must end: `STEP_S` from now, or the deadline if sooner."""
        return min(self.at, time.monotonic() + STEP_S)

    def limits(self, limits: SandboxLimits) -> SandboxLimits:
        """`limits` with the per-call timeout cut to the time left."""
        left_ms = max(1, int(self.left_s() * 1000))
        if limits.timeout_ms <= left_ms:
            return limits
        return limits.model_copy(update={"timeout_ms": left_ms})

    def watch(self, backend: SandboxBackend, stack: ExitStack) -> None:
        """At the deadline, end `backend`'s running calls (a backend that can: WASM; a
        container's request is bounded by its timeout, already cut by `limits`). The timer
        is stopped when `stack` closes."""
        expire = getattr(backend, "expire_calls", None)
        if expire is None:
            return
        timer = threading.Timer(max(0.0, self.left_s()), expire)
        timer.daemon = True
        timer.start()

        def stop() -> None:
            timer.cancel()
            timer.join()

        stack.callback(stop)


def starts(clock: Deadline | None, step: str, needs_s: float = 0.0) -> bool:
    """True without a deadline; else `Deadline.starts`."""
    return clock is None or clock.starts(step, needs_s)


def within(limits: SandboxLimits, clock: Deadline | None) -> SandboxLimits:
    """`limits` without a deadline; else `Deadline.limits`."""
    return limits if clock is None else clock.limits(limits)
