"""The sandbox part of `check` and `gate`: load cold then warm, send the health calls and,
when asked (the gate), load-test the module through the gateway, within an optional overall
deadline (`bench.deadline`).

Under a deadline nothing starts after it and no call runs past it, and a module whose health
calls broke a limit, or took longer than the critical latency each, is not load-tested: it is
critical already, and each request could take its whole timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import NamedTuple

from sandbench.progress import Steps
from sandbench.sandbox import LoadResult, SandboxBackend, Violation, ViolationKind

from .deadline import STEP_S, Deadline, starts
from .loadtest import LoadTestConfig, LoadTestResult
from .loadtime import LoadTimes, measure_load
from .probe import ProbeResult, probe
from .served import Target, served_load_test
from .thresholds import Threshold

__all__ = ["BROKE_A_LIMIT", "TOO_SLOW", "Smoke", "SmokePlan", "not_started", "smoke_test"]

LOAD_TEST_MARGIN_S = 10.0  # locust's start-up and shut-down around the test's duration
BROKE_A_LIMIT = "not run: the health calls broke a limit (the module is critical already)"
TOO_SLOW = (
    "not run: every health call took longer than the critical latency ({ms:g} ms) of the "
    "module's own time (the module is critical already)"
)


@dataclass(frozen=True)
class SmokePlan:
    """What `smoke_test` runs: `calls` health calls after `warm_runs` warm loads (`cold`
    compiles the first afresh), then a load test at `load_test` (None: none) judged on
    `thresholds`, with the reference module beside it.

    `critical_ms` is the latency past which the module is critical already (the policy's
    `p95_critical_ms`); `settle` is called before the load test starts (the gate waits for
    its scans there, so that they no longer load the machine the load test measures).
    """

    target: Target
    calls: int = 5
    warm_runs: int = 5
    cold: bool = False
    load_test: LoadTestConfig | None = None
    thresholds: Sequence[Threshold] = ()
    critical_ms: float | None = None
    settle: Callable[[], object] | None = None


class Smoke(NamedTuple):
    """What the sandbox part saw; `not_load_tested` says why a planned load test did not run
    when the module broke a limit."""

    loaded: LoadResult
    times: LoadTimes
    probe: ProbeResult | None = None
    load_test: LoadTestResult | None = None
    not_load_tested: str | None = None


def not_started() -> Smoke:
    """What the sandbox part reports when the deadline passed before it started."""
    message = "not loaded: the gate's deadline passed before the sandbox test started"
    violation = Violation(kind=ViolationKind.TIMEOUT, message=message, phase="load")
    return Smoke(LoadResult(violation=violation), LoadTimes(cold_ms=0.0, compile_ms=0.0))


def smoke_test(
    backend: SandboxBackend,
    plan: SmokePlan,
    clock: Deadline | None,
    stack: ExitStack,
    steps: Steps,
) -> Smoke:
    """Load, call and (per `plan`) load-test the module; the gateway is stopped by `stack`.

    Never raises for what the module did; `SandboxError` for host faults, `BenchError`
    when locust cannot run.
    """
    target = plan.target
    steps.start("loading (compiling)" if plan.cold else "loading")
    loaded, times = measure_load(
        backend, target.package, target.limits, target.grants, warm_runs=plan.warm_runs,
        until=None if clock is None else clock.at,
        warm_budget_s=None if clock is None else STEP_S, cold=plan.cold,
    )  # fmt: skip
    probed = _health_calls(loaded, plan, clock, steps)
    decided = None if clock is None or probed is None else _decided(probed, plan.critical_ms)
    if decided is not None:
        return Smoke(loaded, times, probed, not_load_tested=decided)
    config = plan.load_test
    if config is None or loaded.instance is None:
        return Smoke(loaded, times, probed)
    if plan.settle is not None:
        plan.settle()
    if not starts(clock, "load test", config.duration_s + LOAD_TEST_MARGIN_S):
        return Smoke(loaded, times, probed)
    steps.start("load test")
    test, _ = served_load_test(
        target, backend, config, plan.thresholds, stack, instances=2, reference=True
    )
    return Smoke(loaded, times, probed, test)


def _decided(probed: ProbeResult, critical_ms: float | None) -> str | None:
    """Why the health calls already make the module critical (no load test needed), if so.

    Slow means the module's own time (CPU and chosen sleep, which a busy machine does not
    stretch) of every call is past `critical_ms`, and so is its latency: whatever statistic
    the latency rule judges, on a quiet machine or a busy one, it is critical.
    """
    if probed.violations:
        return BROKE_A_LIMIT
    fastest = min(probed.own_ms.min, probed.latency_ms.min) if probed.outcomes else 0.0
    if critical_ms is not None and fastest > critical_ms:
        return TOO_SLOW.format(ms=critical_ms)
    return None


def _health_calls(
    loaded: LoadResult, plan: SmokePlan, clock: Deadline | None, steps: Steps
) -> ProbeResult | None:
    """`plan.calls` health requests on the loaded instance (closed after), each step within
    the deadline; None when the module did not load or the deadline passed."""
    if loaded.instance is None:
        return None
    steps.start("health calls")
    with loaded.instance as instance:
        if not starts(clock, "health calls"):
            return None
        until = None if clock is None else clock.step_until()
        return probe(instance, plan.target.request, count=plan.calls, until=until)
