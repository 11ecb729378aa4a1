"""In-process measurements over N repetitions: load-time distributions and invoke latency.

    measure_loads(backend, package, limits, grants, reps)  -> LoadDistribution
    measure_invoke(instance, request, count, budget_s)      -> InvokeLatency

Every figure is a `Stats` (count, median, spread, tail). Loops are bounded in count and in
seconds; a violation stops them (one broken limit already decides the verdict).
"""

from __future__ import annotations

import time
from datetime import datetime

from pydantic import BaseModel, Field

from sandbench._camel import CAMEL
from sandbench.manifests import ModulePackage
from sandbench.sandbox import Grants, Instance, Request, SandboxBackend, SandboxLimits, Violation

from .loadtime import cold_load
from .stats import Stats, summarize

__all__ = ["InvokeLatency", "LoadDistribution", "measure_invoke", "measure_loads"]


class LoadDistribution(BaseModel):
    """Cold loads (compile, cache ignored), warm loads (from the cache), in ms."""

    model_config = CAMEL

    cold_ms: Stats | None = None
    compile_ms: Stats | None = None
    warm_ms: Stats | None = None
    violation: Violation | None = None
    cold_measured_at: datetime | None = Field(
        default=None,
        description="set when the cold figures are the compile recorded with the cached "
        "artifact (one sample) rather than compiles of this run",
    )


class InvokeLatency(BaseModel):
    """Wall-clock latency of in-process invocations, and how much of it was instantiation."""

    model_config = CAMEL

    latency_ms: Stats
    instantiate_ms: Stats
    cpu_ms: Stats
    memory_bytes: int
    violations: int
    violation: Violation | None = None


def measure_loads(
    backend: SandboxBackend,
    package: ModulePackage,
    limits: SandboxLimits,
    grants: Grants,
    *,
    reps: int = 10,
    budget_s: float = 30.0,
    cold: bool = True,
) -> LoadDistribution:
    """Load `reps` times cold and `reps` times warm (at most `budget_s` seconds each).

    Without `cold`, a compile recorded with the cached artifact stands for the cold loads
    (one sample, `cold_measured_at` set) and none is compiled; with no record, as `cold`.
    """
    distributions: dict[str, list[float]] = {"cold": [], "compile": [], "warm": []}
    phases = [(True, "cold"), (False, "warm")]
    recorded = None
    if not cold:
        first, times = cold_load(backend, package, limits, grants, fresh=False)
        if first.instance is not None:
            first.instance.close()
        recorded = times.cold_measured_at
        if recorded is not None:
            distributions["cold"].append(times.cold_ms)
            distributions["compile"].append(times.compile_ms)
            phases = phases[1:]
    for fresh, key in phases:
        deadline = time.monotonic() + budget_s
        for _ in range(reps):
            result = backend.load(package, limits, grants, fresh=fresh)
            if result.instance is None:
                return LoadDistribution(violation=result.violation)
            result.instance.close()
            distributions[key].append(result.load_ms)
            if fresh:
                distributions["compile"].append(result.compile_ms)
            if time.monotonic() > deadline:
                break
    return LoadDistribution(
        cold_ms=summarize(distributions["cold"]),
        compile_ms=summarize(distributions["compile"]),
        warm_ms=summarize(distributions["warm"]),
        cold_measured_at=recorded,
    )


def measure_invoke(
    instance: Instance, request: Request, *, count: int = 200, budget_s: float = 10.0
) -> InvokeLatency:
    """Invoke `request` up to `count` times in a row, stopping at a violation or `budget_s`."""
    if count < 1:
        raise ValueError("measure at least one call")
    wall: list[float] = []
    instantiate: list[float] = []
    cpu: list[float] = []
    memory = 0
    violation: Violation | None = None
    deadline = time.monotonic() + budget_s
    for _ in range(count):
        started = time.perf_counter()
        outcome = instance.invoke(request)
        wall.append((time.perf_counter() - started) * 1000)
        instantiate.append(outcome.usage.instantiate_ms)
        cpu.append(outcome.usage.cpu_ms)
        memory = max(memory, outcome.usage.memory_bytes)
        if outcome.violation is not None:
            violation = outcome.violation
            break
        if time.monotonic() > deadline:
            break
    return InvokeLatency(
        latency_ms=summarize(wall),
        instantiate_ms=summarize(instantiate),
        cpu_ms=summarize(cpu),
        memory_bytes=memory,
        violations=int(violation is not None),
        violation=violation,
    )
