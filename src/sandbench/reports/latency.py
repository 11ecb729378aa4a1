"""How the latency rules (`latency-p95`, `load-test`) judge a latency taken on a shared machine.

A latency is the module's cost plus the machine's: on a busy machine a module that answers
in 0.2 ms can show a p95 of 140 ms because its requests waited for a core. A verdict must
not depend on that, so a latency above `p95_degraded_ms` is judged on the module's share:

1. **Against the reference** (load test, WASM): the built-in reference module is loaded at
   the same rate in the same run (`bench.reference`). What the module adds above the
   reference's latency, less a noise margin of a quarter of the reference's figure
   (`value - 1.25 x reference`, p95 against p95), is judged on the policy's thresholds.
   The margin is measured: over 20 gates of a healthy module, six at a time on 2 cores,
   its p95 exceeded the reference's by up to 28 % of the reference's (170 ms over 597 ms),
   while a module stalling a second in three exceeded it by 45 % or more; on a quiet
   machine the reference's p95 is a few ms and the margin vanishes.
2. **On its own time** (in-process calls): a call's own time is its CPU time plus the time
   it chose to sleep (`Usage.own_ms`), which does not grow when the machine is busy. When
   the machine was contended (some task waited for a CPU at least `BUSY_PRESSURE` of the
   time), the own time is judged on the thresholds instead of the wall time.
3. Without either figure, a latency taken on a contended machine is inconclusive; on a
   quiet one (or where the kernel has no PSI) the latency itself is judged.

When the module's share is within the threshold but the latency is not, the rule is
**inconclusive**: it does not degrade the verdict, and its message says what was measured
and why it cannot decide (re-run on a quieter machine to settle it).
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Status
from .policy import Policy

__all__ = ["BUSY_PRESSURE", "Judged", "judge_latency"]

BUSY_PRESSURE = 0.10
NOISE_MARGIN = 0.25  # of the reference's figure: two p95s of 150 requests differ this much


@dataclass(frozen=True)
class Judged:
    """A latency rule's outcome: status (None: passed), inconclusive, and what to add to
    the message."""

    status: Status | None
    inconclusive: bool = False
    note: str = ""


def _status(value: float, policy: Policy) -> Status | None:
    if value > policy.p95_critical_ms:
        return Status.CRITICAL
    if value > policy.p95_degraded_ms:
        return Status.DEGRADED
    return None


def _busy(pressure: float | None) -> str:
    if pressure is None:
        return "the machine was busy"
    return f"the machine was busy (some task waited for a CPU {pressure:.0%} of the time)"


def judge_latency(
    value: float,
    policy: Policy,
    *,
    reference: float | None = None,
    own: float | None = None,
    pressure: float | None = None,
) -> Judged:
    """Judge `value` (ms) under `policy`; see the module docstring for the order of figures.

    `reference`: the reference module's figure from the same run; `own`: the module's own
    time (same statistic); `pressure`: the share of time some task waited for a CPU.
    """
    limit = policy.p95_degraded_ms
    if value <= limit:
        return Judged(None)
    if reference is not None:
        added = value - reference * (1 + NOISE_MARGIN)
        adds = f"adds {added:.2f} ms" if added > 0 else "adds nothing measurable to it"
        said = (
            f"; the reference module measured {reference:.2f} ms in the same run, so the "
            f"module {adds} (beyond a {NOISE_MARGIN:.0%} noise margin)"
        )
        if added > limit:
            return Judged(_status(added, policy), note=said)
        why = f"{said}, within {limit:g} ms: {_busy(pressure)}; re-run on a quieter machine"
        return Judged(None, inconclusive=True, note=why)
    busy = pressure is not None and pressure >= BUSY_PRESSURE
    if own is not None and busy:
        said = f"; its own time (CPU and sleep) is {own:.2f} ms a call"
        if own > limit:
            return Judged(_status(own, policy), note=said)
        why = f"{said}, within {limit:g} ms: {_busy(pressure)}; re-run on a quieter machine"
        return Judged(None, inconclusive=True, note=why)
    if busy:
        why = f"; {_busy(pressure)} and no reference was measured; re-run on a quieter machine"
        return Judged(None, inconclusive=True, note=why)
    return Judged(_status(value, policy))
