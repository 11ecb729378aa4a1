"""The measurements of `sandbench bench`, in order: load times, in-process calls, then an
HTTP load test through the gateway (`bench.served`) while this process is sampled.

    measure_all(backend, plan, config, thresholds, stack, steps) -> BenchResult
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from sandbench.progress import Steps
from sandbench.sandbox import SandboxBackend

from .loadtest import LoadTestConfig
from .measure import LoadDistribution, measure_invoke, measure_loads
from .result import BenchResult
from .sampler import Sampler
from .served import Target, served_load_test
from .thresholds import Threshold

__all__ = ["BenchPlan", "measure_all"]


@dataclass(frozen=True)
class BenchPlan:
    """What `measure_all` measures and how often; `cold` compiles each cold load afresh."""

    target: Target
    reps: int = 10
    invokes: int = 200
    instances: int = 4
    cold: bool = False


def measure_all(
    backend: SandboxBackend,
    plan: BenchPlan,
    config: LoadTestConfig,
    thresholds: Sequence[Threshold],
    stack: ExitStack,
    steps: Steps,
) -> BenchResult:
    """Load times over `plan.reps`, `plan.invokes` calls on one instance, then a load test
    at `config` judged on `thresholds` (its gateway stopped by `stack`). A module that does
    not load skips the rest, with why.

    Raises `BenchError` when locust cannot run and `SandboxError` for host faults.
    """
    target = plan.target
    steps.start(f"load times ({plan.reps} cold and warm)" if plan.cold else "load times")
    loads = measure_loads(
        backend, target.package, target.limits, target.grants, reps=plan.reps, cold=plan.cold
    )
    if loads.violation is not None:
        return _not_loaded(backend, plan, loads, "the module does not load")
    loaded = backend.load(target.package, target.limits, target.grants)
    if loaded.instance is None:  # it loaded a moment ago: a module that loads only now and then
        why = loaded.violation.message if loaded.violation is not None else "no instance"
        return _not_loaded(backend, plan, loads, f"the module did not load again: {why}")
    steps.start(f"{plan.invokes} calls in process")
    with loaded.instance as instance:
        invoke = measure_invoke(instance, target.request, count=plan.invokes)
    steps.start("load test")
    with Sampler([os.getpid()], children=False) as sampler:
        test, containers = served_load_test(
            target, backend, config, thresholds, stack, instances=plan.instances
        )
    skipped = {} if containers else {
        "cgroups": "the WASM backend runs in this process: its use is in `server`"
    }  # fmt: skip
    return BenchResult(**_common(backend, plan, loads), invoke=invoke, load_test=test,
                       server=sampler.samples, containers=containers, skipped=skipped)  # fmt: skip


def _common(backend: SandboxBackend, plan: BenchPlan, loads: LoadDistribution) -> dict[str, object]:
    manifest = plan.target.package.manifest
    return {"module_id": manifest.module_id, "version": manifest.version,
            "backend": backend.describe(), "instances": plan.instances, "loads": loads}  # fmt: skip


def _not_loaded(
    backend: SandboxBackend, plan: BenchPlan, loads: LoadDistribution, reason: str
) -> BenchResult:
    skipped = {"invoke": reason, "load-test": reason}
    return BenchResult(**_common(backend, plan, loads), skipped=skipped)
