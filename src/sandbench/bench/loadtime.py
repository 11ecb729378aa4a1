"""Load-time measurement: one cold load (compile, cache ignored), then warm loads from cache."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from sandbench.manifests import ModulePackage
from sandbench.sandbox import Grants, LoadResult, SandboxBackend, SandboxLimits

from .stats import Stats, summarize

__all__ = ["LoadTimes", "measure_load"]


class LoadTimes(BaseModel):
    """Cold and warm load times in milliseconds (load = compile or fetch, link, instantiate)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cold_ms: float
    compile_ms: float
    warm: Stats | None = None
    cache_hit: bool = False


def measure_load(
    backend: SandboxBackend,
    package: ModulePackage,
    limits: SandboxLimits,
    grants: Grants,
    *,
    warm_runs: int = 5,
    fresh: bool = True,
) -> tuple[LoadResult, LoadTimes]:
    """Load once cold and `warm_runs` times warm; return the last load and the times.

    When the cold load fails, no warm load is tried: the failure is the result. The caller
    owns the returned load's instance; the others are closed here. `fresh=False` lets the
    first load come from the artifact cache (then it is not a cold load).
    """
    cold = backend.load(package, limits, grants, fresh=fresh)
    if cold.instance is None or warm_runs == 0:
        return cold, LoadTimes(cold_ms=cold.load_ms, compile_ms=cold.compile_ms)
    cold.instance.close()
    samples: list[float] = []
    last = cold
    hit = True
    for _ in range(warm_runs):
        if last.instance is not None:
            last.instance.close()
        last = backend.load(package, limits, grants)
        samples.append(last.load_ms)
        hit = hit and last.cache_hit
        if last.instance is None:
            break
    times = LoadTimes(
        cold_ms=cold.load_ms,
        compile_ms=cold.compile_ms,
        warm=summarize(samples),
        cache_hit=hit,
    )
    return last, times
