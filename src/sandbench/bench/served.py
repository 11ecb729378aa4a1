"""Load tests of a module served through the runtime's gateway on loopback, in this process,
with the reference module beside it when asked (`bench.reference`).

    served_load_test(target, backend, config, thresholds, stack) -> (LoadTestResult, samples)
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sandbench.manifests import ModulePackage
from sandbench.sandbox import Grants, Request, SandboxBackend, SandboxLimits

from .loadtest import LoadTestConfig, LoadTestResult, run_load_test
from .reference import REFERENCE_LIMITS, REFERENCE_ROUTE, reference_package
from .sampler import CgroupSampler, ResourceSample
from .thresholds import Threshold

if TYPE_CHECKING:
    from sandbench.runtime.gateway import ModuleSpec

__all__ = ["Target", "served_load_test"]


@dataclass(frozen=True)
class Target:
    """A module as the sandbox runs it: its package, limits and grants, and the request
    each measured call sends (its health request)."""

    package: ModulePackage
    limits: SandboxLimits
    grants: Grants
    request: Request


def served_load_test(
    target: Target,
    backend: SandboxBackend,
    config: LoadTestConfig,
    thresholds: Sequence[Threshold],
    stack: ExitStack,
    *,
    instances: int,
    reference: bool = False,
) -> tuple[LoadTestResult, list[ResourceSample]]:
    """Serve the module through an in-process gateway on loopback (at its folder name;
    `stack` stops both) and load-test its request with locust (in its own process) at
    `config`'s users, rate and duration.

    With `reference` and a WASM backend, the built-in reference module is served beside it
    and loaded at the same rate (`LoadTestResult.reference_ms`: the machine's share).

    For a container module the containers' cgroup counters are sampled meanwhile (the
    second item); a WASM module runs in this process, which the caller samples.
    Raises `BenchError` when locust cannot run, `SandboxError` when the gateway cannot.
    """
    from sandbench.runtime.gateway import Gateway, ModuleSpec
    from sandbench.runtime.server import BackgroundServer

    route = target.package.root.name
    specs = [ModuleSpec(route, target.package, target.limits, target.grants)]
    if reference and backend.name == "wasm":
        specs.append(_reference_spec(stack))
    gateway = stack.enter_context(Gateway(specs, backend, instances=instances))
    gateway.start()
    server = stack.enter_context(BackgroundServer(gateway))
    request = target.request
    query = f"?{request.query}" if request.query else ""
    aimed = config.model_copy(update={
        "url": server.url, "path": f"/{route}{request.path}{query}", "method": request.method,
        "body": request.body,
        "reference_path": f"/{specs[1].route}/" if len(specs) > 1 else None,
    })  # fmt: skip
    if target.package.manifest.runtime.kind != "container":
        return run_load_test(aimed, thresholds), []
    with CgroupSampler(gateway.live_instances) as containers:
        test = run_load_test(aimed, thresholds)
    return test, containers.samples


def _reference_spec(stack: ExitStack) -> ModuleSpec:
    """The built-in reference module, written to a temporary folder the stack removes."""
    from sandbench.runtime.gateway import ModuleSpec

    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sandbench-ref-")))
    return ModuleSpec(REFERENCE_ROUTE, reference_package(folder), REFERENCE_LIMITS, Grants())
