"""Load-time measurement: one cold load (compile, cache ignored), then warm loads from cache."""

from __future__ import annotations

import time
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from sandbench.manifests import ModulePackage
from sandbench.sandbox import Grants, LoadResult, SandboxBackend, SandboxLimits

from .stats import Stats, summarize

__all__ = ["LoadTimes", "cold_load", "measure_load"]


class LoadTimes(BaseModel):
    """Cold and warm load times in milliseconds (load = compile or fetch, link, instantiate)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cold_ms: float
    compile_ms: float
    warm: Stats | None = None
    cache_hit: bool = False
    cold_measured_at: datetime | None = Field(
        default=None,
        description="when the cold figure was measured, if it is the one recorded when the "
        "artifact was compiled; None when this run compiled",
    )


def measure_load(
    backend: SandboxBackend,
    package: ModulePackage,
    limits: SandboxLimits,
    grants: Grants,
    *,
    warm_runs: int = 5,
    cold: bool = False,
    until: float | None = None,
    warm_budget_s: float | None = None,
) -> tuple[LoadResult, LoadTimes]:
    """Load once cold and `warm_runs` times warm; return the last load and the times.

    The cold figure is the one recorded when the artifact was compiled, if the backend kept
    one (compile_record.py); `cold=True`, or no record, compiles afresh to measure it.
    When the cold load fails, no warm load is tried: the failure is the result. No warm
    load starts after `until` (a `time.monotonic()` value): past it before the first, the
    cold load is returned (`warm` None); past it later, `warm` has fewer samples. The caller
    owns the returned load's instance; the others are closed here. `warm_budget_s` moves
    `until` earlier: to that long after the cold load.
    """
    first, cold_times = cold_load(backend, package, limits, grants, fresh=cold)
    if warm_budget_s is not None:
        budget_end = time.monotonic() + warm_budget_s
        until = budget_end if until is None else min(until, budget_end)
    if first.instance is None or warm_runs == 0 or _passed(until):
        return first, cold_times
    first.instance.close()
    samples: list[float] = []
    last = first
    hit = True
    for _ in range(warm_runs):
        if samples and _passed(until):  # the cold instance is closed: one warm load at least
            break
        if last.instance is not None:
            last.instance.close()
        last = backend.load(package, limits, grants)
        samples.append(last.load_ms)
        hit = hit and last.cache_hit
        if last.instance is None:
            break
    return last, cold_times.model_copy(update={"warm": summarize(samples), "cache_hit": hit})


def cold_load(
    backend: SandboxBackend,
    package: ModulePackage,
    limits: SandboxLimits,
    grants: Grants,
    *,
    fresh: bool,
) -> tuple[LoadResult, LoadTimes]:
    """A first load and the cold times: a cache hit with a compile record counts as the
    recorded compile plus this load's linking and instantiating; otherwise a fresh load."""
    # Only the WASM backend keeps compile records; a container's cold load stays a fresh
    # start (a second container just to find no record would double its cost).
    first = backend.load(package, limits, grants, fresh=fresh or backend.name != "wasm")
    record = first.compiled
    if first.cache_hit and record is not None and first.instance is not None:
        rest_ms = max(first.load_ms - first.compile_ms, 0.0)
        times = LoadTimes(
            cold_ms=record.compile_ms + rest_ms,
            compile_ms=record.compile_ms,
            cold_measured_at=record.measured_at,
        )
        return first, times
    if first.cache_hit and first.instance is not None:  # cached, but nothing was recorded
        first.instance.close()
        first = backend.load(package, limits, grants, fresh=True)
    return first, LoadTimes(cold_ms=first.load_ms, compile_ms=first.compile_ms)


def _passed(until: float | None) -> bool:
    return until is not None and time.monotonic() >= until
