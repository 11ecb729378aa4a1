"""The run under every entry point of `sandbench.pipeline`: open the backend, measure
the module in the sandbox under its applied limits, gather the evidence, assess it.

`check`, `gate` and `bench` differ in what they ask for (`Options`) and in what runs
beside (the gate's scans); all of them end in `assessed`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from sandbench import runtime
from sandbench._version import __version__, installed_versions
from sandbench.bench.deadline import Deadline, starts, within
from sandbench.bench.loadtest import LoadTestConfig, LoadTestResult
from sandbench.bench.served import Target
from sandbench.bench.smoke import Smoke, SmokePlan, not_started, smoke_test
from sandbench.hostapi import HostSettings
from sandbench.manifests import ModulePackage, TrustStore, not_enforced, verify_publisher
from sandbench.progress import Steps
from sandbench.reports import Evidence, HealthReport, Policy, Skipped, assess
from sandbench.reports.drawn import load_test_thresholds
from sandbench.reports.model import GateDeadline
from sandbench.sandbox import BackendKind, SandboxBackend, SandboxLimits, open_backend
from sandbench.scanners import ImagePackages, ScanResult, module_parts, unused_permissions

__all__ = [
    "NOT_IN_CHECK",
    "Backend",
    "Measured",
    "Options",
    "applied_limits",
    "assessed",
    "measure",
    "module_target",
    "open_for",
]

# A backend passed in stays the caller's; a kind (or None: the manifest's runtime.kind) is
# opened by the pipeline function and closed before it returns.
Backend = SandboxBackend | BackendKind | None


@dataclass(frozen=True)
class Options:
    """How much to measure. The defaults suit a developer; a gate may ask for fewer calls."""

    calls: int = 5
    warm_runs: int = 5
    storage: Path | None = None
    cache_dir: Path | None = None
    skipped: tuple[Skipped, ...] = field(default=())
    load_test: LoadTestConfig | None = None
    host: HostSettings | None = None
    trust: TrustStore | None = None
    deadline: Deadline | None = None
    cold: bool = False
    steps: Steps = field(default_factory=lambda: Steps(None, 1))
    settle: Callable[[], object] | None = None  # before the load test: the gate's scans end


NOT_IN_CHECK = (
    Skipped(check_id="scanners", reason="`sandbench check` runs no static scanners"),
    Skipped(check_id="load-test", reason="`sandbench check` runs no HTTP load test"),
)


def open_for(
    backend: Backend, kind: BackendKind, cache_dir: Path | None, stack: ExitStack, policy: Policy
) -> SandboxBackend:
    """`backend` itself, or the one it names (else `kind`), opened here (compiling within
    `policy`'s compile bounds) and closed by `stack`."""
    if backend is not None and not isinstance(backend, BackendKind):
        return backend
    new = open_backend(backend or kind, cache_dir, policy.compile_bounds())
    stack.callback(new.close)
    return new


class Measured(NamedTuple):
    """What the sandbox part of a run saw, under which limits, on which backend."""

    smoke: Smoke
    applied: runtime.AppliedLimits
    backend: str


def assessed(
    package: ModulePackage,
    policy: Policy,
    backend: Backend,
    options: Options,
    scans: Callable[[], tuple[ScanResult, ...]],
    load_test: LoadTestResult | None = None,
    image: ImagePackages | None = None,
) -> HealthReport:
    """Measure, then assess; `scans` gives the scanners' results once measured (the gate's
    run meanwhile), `load_test` is one the caller already ran (bench), `image` the
    container image's distributions the gate listed (for the report's parts)."""
    seen = measure(package, policy, backend, options)
    found = scans()
    options.steps.start("assessing")
    if load_test is not None:
        seen = seen._replace(smoke=seen.smoke._replace(load_test=load_test))
    report = assess(_evidence(package, seen, options, found, image), policy)
    options.steps.finish(report.status.value)
    return report


def _evidence(
    package: ModulePackage,
    seen: Measured,
    options: Options,
    scans: tuple[ScanResult, ...],
    image: ImagePackages | None,
) -> Evidence:
    """Everything `assess` judges, from the package, the sandbox run and the scans."""
    manifest, clock, smoke = package.manifest, options.deadline, seen.smoke
    deadline = None if clock is None else GateDeadline(
        limit_s=clock.limit_s, elapsed_s=clock.elapsed_s(), cut=tuple(clock.cut)
    )  # fmt: skip
    why = smoke.not_load_tested
    skipped: tuple[Skipped, ...] = (
        () if why is None else (Skipped(check_id="load-test", reason=why),)
    )
    abi = getattr(manifest.runtime, "abi", None)  # a limit nothing enforces is a check not made
    skipped += tuple(Skipped(check_id=f"limits.{s.name}", reason=r) for s, r in not_enforced(abi))
    return Evidence(
        module_id=manifest.module_id, version=manifest.version, digest=package.digest,
        declared_signature=manifest.signature, author=manifest.author,
        publisher=verify_publisher(package, options.trust),
        applied=seen.applied, backend=seen.backend, tool_version=__version__,
        load=smoke.times, load_violation=smoke.loaded.violation,
        dependencies=smoke.loaded.dependencies, request=runtime.health_request(manifest),
        expect=manifest.health.expect, probe=smoke.probe, load_test=smoke.load_test,
        scans=scans + _least_privilege(package, smoke, scans),
        components=installed_versions(["wasmtime"] + (["bandit", "pip-audit"] if scans else [])),
        skipped=options.skipped + skipped, deadline=deadline,
        checked_at=datetime.now(UTC), parts=module_parts(package, image, scans),
    )  # fmt: skip


def _least_privilege(
    package: ModulePackage, smoke: Smoke, scans: tuple[ScanResult, ...]
) -> tuple[ScanResult, ...]:
    """Unused permissions, judged by the imports the sandbox linked and the host calls the
    health calls made, as findings.

    Nothing when the module did not load, for a container (its file and network use is not
    observed yet), or when the capabilities scanner already judged the imports statically
    (the gate), so a permission is not reported twice.
    """
    judged = any(s.scanner == "capabilities" for s in scans)
    if smoke.loaded.violation is not None or judged or package.manifest.runtime.kind != "wasm":
        return ()
    outcomes = smoke.probe.outcomes if smoke.probe is not None else ()
    uses = runtime.observed_use(package.manifest, smoke.loaded.imports, outcomes)
    return (unused_permissions((u.permission, u.evidence) for u in uses if not u.used),)


def measure(package: ModulePackage, policy: Policy, backend: Backend, options: Options) -> Measured:
    """`bench.smoke_test` with the manifest's limits (cut to the deadline) and storage; a
    backend opened here is closed here, and at the deadline its running calls end."""
    clock = options.deadline
    applied = applied_limits(package, policy)
    if not starts(clock, "the sandbox test"):
        return Measured(not_started(), applied, "not started")
    with ExitStack() as stack:
        kind = BackendKind(package.manifest.runtime.kind)
        backend = open_for(backend, kind, options.cache_dir, stack, policy)
        if clock is not None:
            clock.watch(backend, stack)
        limits = within(applied.limits, clock)
        target = module_target(package, limits, stack, options.storage, options.host)
        plan = SmokePlan(target, options.calls, options.warm_runs, options.cold,
                         options.load_test, load_test_thresholds(policy),
                         critical_ms=policy.p95_critical_ms, settle=options.settle)  # fmt: skip
        smoke = smoke_test(backend, plan, clock, stack, options.steps)
        return Measured(smoke, applied, backend.describe())


def applied_limits(package: ModulePackage, policy: Policy) -> runtime.AppliedLimits:
    """The manifest's limits, `policy`'s defaults where it declares none, clamped by its
    ceilings."""
    return runtime.limits_for(
        package.manifest, policy.defaults.sandbox(), policy.ceilings.sandbox()
    )


def module_target(
    package: ModulePackage,
    limits: SandboxLimits,
    stack: ExitStack,
    storage: Path | None,
    host: HostSettings | None,
) -> Target:
    """`package` under `limits`, its storage (a temporary workspace unless `storage`)
    removed by `stack`, sending its health request."""
    workspace = stack.enter_context(runtime.Workspace(package.manifest, storage, host))
    return Target(package, limits, workspace.grants, runtime.health_request(package.manifest))
