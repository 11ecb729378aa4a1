"""Invocation probes: send one request a few times, keep every outcome and the latency."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

from sandbench.sandbox import Instance, Outcome, Request

from .reference import CpuPressure
from .stats import Stats, summarize

__all__ = ["ProbeResult", "probe"]


class ProbeResult(BaseModel):
    """What `probe` saw: each outcome in order and the wall-clock latency of the calls (ms)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outcomes: tuple[Outcome, ...]
    latency_ms: Stats
    cpu_pressure: float | None = Field(
        default=None, description="share of the calls' wall time some task waited for a CPU"
    )

    @property
    def own_ms(self) -> Stats:
        """Each call's own time (`Usage.own_ms`), summarized."""
        return summarize([o.usage.own_ms for o in self.outcomes])

    @property
    def violations(self) -> int:
        """How many calls broke a limit or failed."""
        return sum(1 for outcome in self.outcomes if outcome.violation is not None)


def probe(
    instance: Instance,
    request: Request,
    *,
    count: int = 5,
    stop_on_violation: bool = True,
    until: float | None = None,
) -> ProbeResult:
    """Invoke `request` up to `count` times in a row (count >= 1); after the first call,
    none starts past `until` (a `time.monotonic()` value).

    With `stop_on_violation` the probe ends at the first violation: one broken limit
    already decides the verdict, and a module that spins to its deadline would otherwise
    cost `count` deadlines.
    """
    if count < 1:
        raise ValueError("probe needs at least one call")
    outcomes: list[Outcome] = []
    with CpuPressure() as pressure:
        for _ in range(count):
            if outcomes and until is not None and time.monotonic() >= until:
                break
            outcomes.append(instance.invoke(request))
            if stop_on_violation and outcomes[-1].violation is not None:
                break
    latency = summarize([o.usage.wall_ms + o.usage.throttled_ms for o in outcomes])
    return ProbeResult(outcomes=tuple(outcomes), latency_ms=latency, cpu_pressure=pressure.share)
