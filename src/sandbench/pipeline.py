"""The data path, strung together: `check()` (and, later, `gate()` and `bench()`).

The CLI and the Python API both call these; nothing here owns logic of its own.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from sandbench._version import __version__
from sandbench.bench import ProbeResult, measure_load, probe
from sandbench.manifests import ModulePackage, load
from sandbench.reports import Evidence, HealthReport, Policy, Skipped, assess
from sandbench.runtime import Workspace, health_request, limits_for
from sandbench.sandbox import SandboxBackend, open_backend

__all__ = ["check"]

_NOT_IN_CHECK = (
    Skipped(check_id="scanners", reason="`sandbench check` runs no static scanners"),
    Skipped(check_id="load-test", reason="`sandbench check` runs no HTTP load test"),
)


def check(
    path: Path | str,
    *,
    policy: Policy | None = None,
    backend: SandboxBackend | None = None,
    storage: Path | None = None,
    calls: int = 5,
    warm_runs: int = 5,
) -> HealthReport:
    """Validate, load (cold, then warm) and health-check the module at `path`.

    Raises `ManifestError` for an invalid module and `SandboxError` for host faults;
    anything the module itself does wrong is in the report.
    """
    policy = policy or Policy()
    package = load(path)
    with ExitStack() as stack:
        if backend is None:
            backend = open_backend()
            stack.callback(backend.close)
        return _check_loaded(package, policy, backend, storage, calls, warm_runs, stack)


def _check_loaded(
    package: ModulePackage,
    policy: Policy,
    backend: SandboxBackend,
    storage: Path | None,
    calls: int,
    warm_runs: int,
    stack: ExitStack,
) -> HealthReport:
    manifest = package.manifest
    applied = limits_for(manifest, policy.defaults.sandbox(), policy.ceilings.sandbox())
    workspace = stack.enter_context(Workspace(manifest, storage))
    loaded, times = measure_load(
        backend, package, applied.limits, workspace.grants, warm_runs=warm_runs
    )
    request = health_request(manifest)
    result: ProbeResult | None = None
    if loaded.instance is not None:
        with loaded.instance as instance:
            result = probe(instance, request, count=calls)
    evidence = Evidence(
        module_id=manifest.module_id,
        version=manifest.version,
        digest=package.digest,
        declared_signature=manifest.signature,
        applied=applied,
        backend=backend.describe(),
        tool_version=__version__,
        load=times,
        load_violation=loaded.violation,
        dependencies=loaded.dependencies,
        request=request,
        expect=manifest.health.expect,
        probe=result,
        skipped=_NOT_IN_CHECK,
        checked_at=datetime.now(UTC),
    )
    return assess(evidence, policy)
