"""The measurements of `sandbench bench`, in order: load times, in-process calls, then an
HTTP load test that the caller serves (the gateway belongs to `runtime`), and the load
test's aim at a served module.

    measure_all(backend, plan, load_test, steps) -> BenchResult
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sandbench.manifests import ModulePackage
from sandbench.progress import Steps
from sandbench.sandbox import Grants, Request, SandboxBackend, SandboxLimits

from .loadtest import LoadTestConfig, LoadTestResult, run_load_test
from .measure import LoadDistribution, measure_invoke, measure_loads
from .result import BenchResult
from .sampler import CgroupSampler, ResourceSample, Sampler
from .thresholds import Threshold

__all__ = ["BenchPlan", "LoadTestStep", "aim", "measure_all", "sampled_load_test"]

# Runs the load test; returns its result and the containers' samples (none for WASM).
LoadTestStep = Callable[[], tuple[LoadTestResult, list[ResourceSample]]]


@dataclass(frozen=True)
class BenchPlan:
    """What `measure_all` measures (the module, its limits and grants, the request it
    sends) and how often; `cold` compiles each cold load afresh."""

    package: ModulePackage
    limits: SandboxLimits
    grants: Grants
    request: Request
    reps: int = 10
    invokes: int = 200
    instances: int = 4
    cold: bool = False


def measure_all(
    backend: SandboxBackend, plan: BenchPlan, load_test: LoadTestStep, steps: Steps
) -> BenchResult:
    """Load times over `plan.reps`, `plan.invokes` calls on one instance, then `load_test`
    while this process is sampled. A module that does not load skips the rest, with why.

    Raises what `load_test` raises (`BenchError` when locust cannot run) and `SandboxError`
    for host faults.
    """
    steps.start(f"load times ({plan.reps} cold and warm)" if plan.cold else "load times")
    loads = measure_loads(
        backend, plan.package, plan.limits, plan.grants, reps=plan.reps, cold=plan.cold
    )
    if loads.violation is not None:
        return _not_loaded(backend, plan, loads, "the module does not load")
    loaded = backend.load(plan.package, plan.limits, plan.grants)
    if loaded.instance is None:  # it loaded a moment ago: a module that loads only now and then
        why = loaded.violation.message if loaded.violation is not None else "no instance"
        return _not_loaded(backend, plan, loads, f"the module did not load again: {why}")
    steps.start(f"{plan.invokes} calls in process")
    with loaded.instance as instance:
        invoke = measure_invoke(instance, plan.request, count=plan.invokes)
    steps.start("load test")
    with Sampler([os.getpid()], children=False) as sampler:
        test, containers = load_test()
    skipped = {} if containers else {
        "cgroups": "the WASM backend runs in this process: its use is in `server`"
    }  # fmt: skip
    return BenchResult(**_common(backend, plan, loads), invoke=invoke, load_test=test,
                       server=sampler.samples, containers=containers, skipped=skipped)  # fmt: skip


def _common(backend: SandboxBackend, plan: BenchPlan, loads: LoadDistribution) -> dict[str, object]:
    manifest = plan.package.manifest
    return {"module_id": manifest.module_id, "version": manifest.version,
            "backend": backend.describe(), "instances": plan.instances, "loads": loads}  # fmt: skip


def _not_loaded(
    backend: SandboxBackend, plan: BenchPlan, loads: LoadDistribution, reason: str
) -> BenchResult:
    skipped = {"invoke": reason, "load-test": reason}
    return BenchResult(**_common(backend, plan, loads), skipped=skipped)


def aim(
    config: LoadTestConfig, url: str, path: str, request: Request, reference: str | None = None
) -> LoadTestConfig:
    """`config` sending `request` to `url` + `path` (the module's route), and GETs to the
    `reference` path beside it when given."""
    query = f"?{request.query}" if request.query else ""
    return config.model_copy(update={
        "url": url, "path": f"{path}{request.path}{query}", "method": request.method,
        "body": request.body, "reference_path": reference,
    })  # fmt: skip


def sampled_load_test(
    config: LoadTestConfig,
    thresholds: Sequence[Threshold],
    containers: Callable[[], Sequence[object]] | None = None,
) -> tuple[LoadTestResult, list[ResourceSample]]:
    """`run_load_test`, sampling the cgroups of the container instances `containers()`
    returns meanwhile (none without it). Raises `BenchError` when locust cannot run."""
    if containers is None:
        return run_load_test(config, thresholds), []
    with CgroupSampler(containers) as sampler:
        test = run_load_test(config, thresholds)
    return test, sampler.samples
