"""The data path, strung together: `check()` and `gate()`.

The CLI and the Python API both call these; nothing here owns logic of its own.

    check: load (dir) -> sandbox: cold + warm loads, health calls -> assess
    gate:  load (dir or archive) -> scanners (concurrently) -> sandbox smoke test -> assess
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from sandbench._version import __version__
from sandbench.bench import LoadTimes, ProbeResult, measure_load, probe
from sandbench.bench.loadtest import LoadTestConfig, LoadTestResult
from sandbench.bench.result import BenchResult
from sandbench.bench.thresholds import parse_threshold
from sandbench.errors import SandboxError
from sandbench.hostapi import HostSettings
from sandbench.manifests import ModulePackage, load
from sandbench.manifests.archive import opened
from sandbench.reports import Evidence, HealthReport, Policy, Skipped, assess
from sandbench.runtime import (
    AppliedLimits,
    Suggestion,
    Workspace,
    health_request,
    limits_for,
    permission_use,
    suggest,
)
from sandbench.sandbox import BackendKind, LoadResult, SandboxBackend, open_backend
from sandbench.scanners import (
    Finding,
    ImagePackages,
    Scanner,
    ScanResult,
    Severity,
    default_scanners,
    default_store_path,
    fingerprint,
    scan_all,
)

__all__ = ["BenchRun", "Options", "bench", "check", "gate", "suggest_security"]


@dataclass(frozen=True)
class Options:
    """How much to measure. The defaults suit a developer; a gate may ask for fewer calls."""

    calls: int = 5
    warm_runs: int = 5
    cold: bool = True  # False: the first load may come from the artifact cache (nightly)
    storage: Path | None = None
    cache_dir: Path | None = None
    skipped: tuple[Skipped, ...] = field(default=())
    load_test: LoadTestConfig | None = None
    host: HostSettings | None = None


if TYPE_CHECKING:
    from sandbench.bench.sampler import ResourceSample
    from sandbench.bench.thresholds import Threshold
    from sandbench.runtime.gateway import ModuleSpec


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
    cache_dir: Path | None = None,
    host: HostSettings | None = None,
    cold: bool = True,
) -> HealthReport:
    """Validate, load (cold, then warm) and health-check the module folder at `path`.

    Without `backend`, the one `runtime.kind` names is opened (and closed) here. `cold=False`
    lets the first load use the compiled-artifact cache (a nightly round judges the calls,
    and a fresh compile of a large component costs seconds per round).
    Raises `ManifestError` for an invalid module and `SandboxError` for host faults
    (`BackendUnavailable` when that backend cannot run here); anything the module itself
    does wrong is in the report.
    """
    options = Options(
        calls=calls,
        warm_runs=warm_runs,
        cold=cold,
        storage=storage,
        cache_dir=cache_dir,
        skipped=_NOT_IN_CHECK,
        host=host,
    )
    return _run(load(path), policy or Policy(), backend, options, scans=())


GATE_LOAD_TEST = LoadTestConfig(
    url="http://127.0.0.1", users=4, rate=50.0, duration_s=2.0, max_requests=200
)


def gate(
    path: Path | str,
    *,
    policy: Policy | None = None,
    backend: SandboxBackend | None = None,
    scanners: Sequence[Scanner] | None = None,
    osv_url: str | None = None,
    advisory_store: Path | None = None,
    cache_dir: Path | None = None,
    load_test: LoadTestConfig | None = GATE_LOAD_TEST,
    host: HostSettings | None = None,
) -> HealthReport:
    """The registry's pre-publish gate for a module folder or `.tar.gz`/`.zip` archive.

    Validates, verifies the digest and signature, runs every scanner concurrently (the
    built-in ones unless `scanners` is given; pip-audit asks `osv_url`, else the local
    advisory store served on loopback), smoke tests the module in the sandbox, load-tests
    its health request through the gateway on loopback (`load_test`; None skips it) and
    assesses it all under `policy`. Archives are extracted safely to a private folder that
    is removed afterwards.
    """
    policy = policy or Policy()
    with opened(path) as root:
        package = load(root)
        if scanners is None:
            store = advisory_store or default_store_path()
            scanners = default_scanners(
                policy.scan,
                osv_url=osv_url,
                advisory_store=store,
                image_packages=_image_packages(package),
            )
        scans = scan_all(package, scanners, policy.scan).results
        skipped: tuple[Skipped, ...] = ()
        if load_test is None:
            skipped = (Skipped(check_id="load-test", reason="turned off by the caller"),)
        options = Options(
            calls=3,
            warm_runs=3,
            cache_dir=cache_dir,
            skipped=skipped,
            load_test=load_test,
            host=host,
        )
        return _run(package, policy, backend, options, scans=scans)


def _image_packages(package: ModulePackage) -> ImagePackages | None:
    """For a container module, the distributions installed in its image (building a
    `runtime.build` image when the engine lacks it), or why they cannot be listed."""
    runtime = package.manifest.runtime
    if runtime.kind != "container":
        return None
    from sandbench.sandbox.container import module_image_distributions

    try:
        image, found = module_image_distributions(package)
    except SandboxError as exc:
        named = runtime.image or f"built from {runtime.build}"
        return ImagePackages(image=named, unreadable=str(exc))
    return ImagePackages(image=image, packages=tuple(found))


def suggest_security(
    path: Path | str, *, policy: Policy | None = None, backend: SandboxBackend | None = None
) -> Suggestion:
    """Run the module's health calls and size its `security` block from what they used."""
    package = load(path)
    seen = _measure(package, policy or Policy(), backend, Options())
    outcomes = seen.probe.outcomes if seen.probe is not None else ()
    return suggest(package.manifest, seen.applied.limits, seen.loaded.imports, outcomes)


def _least_privilege(
    package: ModulePackage,
    loaded: LoadResult,
    scans: tuple[ScanResult, ...],
    probed: ProbeResult | None = None,
) -> tuple[ScanResult, ...]:
    """Unused permissions, judged by the imports the sandbox linked and the host calls the
    health calls made, as findings.

    Nothing when the module did not load, for a container (its file and network use is not
    observed yet), or when the capabilities scanner already judged the imports statically
    (the gate), so a permission is not reported twice.
    """
    judged = any(s.scanner == "capabilities" for s in scans)
    if loaded.violation is not None or judged or package.manifest.runtime.kind != "wasm":
        return ()
    outcomes = probed.outcomes if probed is not None else ()
    calls = [call for outcome in outcomes for call in outcome.host.calls]
    findings = tuple(
        Finding(
            scanner="least-privilege",
            rule_id="unused-permission",
            severity=Severity.LOW,
            message=f"{use.permission} is declared but unused: {use.evidence}; "
            "drop it (`sandbench manifest suggest DIR` prints the minimal block)",
            path=Path("module.json"),
            fingerprint=fingerprint(
                "least-privilege", "unused-permission", "module.json", use.permission
            ),
        )
        for use in permission_use(package.manifest, loaded.imports, calls)
        if not use.used
    )
    return (ScanResult(scanner="least-privilege", findings=findings),)


def _run(
    package: ModulePackage,
    policy: Policy,
    backend: SandboxBackend | None,
    options: Options,
    scans: tuple[ScanResult, ...],
    load_test: LoadTestResult | None = None,
) -> HealthReport:
    """Measure, then assess; `load_test` is one the caller already ran (bench)."""
    seen = _measure(package, policy, backend, options)
    manifest = package.manifest
    evidence = Evidence(
        module_id=manifest.module_id,
        version=manifest.version,
        digest=package.digest,
        declared_signature=manifest.signature,
        applied=seen.applied,
        backend=seen.backend,
        tool_version=__version__,
        load=seen.times,
        load_violation=seen.loaded.violation,
        dependencies=seen.loaded.dependencies,
        request=health_request(manifest),
        expect=manifest.health.expect,
        probe=seen.probe,
        load_test=load_test or seen.load_test,
        scans=scans + _least_privilege(package, seen.loaded, scans, seen.probe),
        components=_components(scanned=bool(scans)),
        skipped=options.skipped,
        checked_at=datetime.now(UTC),
    )
    return assess(evidence, policy)


def _components(*, scanned: bool) -> dict[str, str]:
    """Versions of the engines and scanners a run used, for the report."""
    names = ["wasmtime"] + (["bandit", "pip-audit"] if scanned else [])
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


@dataclass(frozen=True)
class _Measured:
    """What the sandbox part of a run saw."""

    times: LoadTimes
    loaded: LoadResult
    probe: ProbeResult | None
    applied: AppliedLimits
    backend: str
    load_test: LoadTestResult | None = None


class BenchRun(NamedTuple):
    """What `bench()` returns: the health report of the module and the measurements."""

    health: HealthReport
    bench: BenchResult


def bench(
    path: Path | str,
    *,
    load_test: LoadTestConfig | None = None,
    thresholds: Sequence[str] | None = None,
    policy: Policy | None = None,
    backend: SandboxBackend | None = None,
    reps: int = 10,
    invokes: int = 200,
    instances: int = 4,
    host: HostSettings | None = None,
) -> BenchRun:
    """Check the module at `path`, then measure it: load times over `reps` repetitions,
    `invokes` in-process calls, and an HTTP load test through the gateway (`load_test`
    gives users, rate and duration; its `url` is ignored). `thresholds` default to the
    policy's (`p95 < 100ms`, `error_rate < 0.5%`). `host` as for `check`.

    Raises `ManifestError` for an invalid module, `BenchError` for a bad threshold or when
    locust cannot run, `SandboxError` for host faults.
    """
    policy = policy or Policy()
    wanted = thresholds if thresholds is not None else _policy_thresholds(policy)
    parsed = [parse_threshold(text) for text in wanted]
    with ExitStack() as stack:
        if backend is None:
            backend = open_backend(BackendKind(load(path).manifest.runtime.kind))
            stack.callback(backend.close)
        package = load(path)
        config = load_test or LoadTestConfig(url="http://127.0.0.1")
        counts = (reps, invokes, instances)
        result = _bench_measure(package, policy, backend, config, parsed, counts, host)
        skipped = (_NOT_IN_CHECK[0],) + (
            () if result.load_test else (Skipped(check_id="load-test", reason="did not run"),)
        )
        options = Options(warm_runs=min(reps, 5), skipped=skipped, host=host)
        health = _run(package, policy, backend, options, scans=(), load_test=result.load_test)
    return BenchRun(health=health, bench=result)


def _policy_thresholds(policy: Policy) -> list[str]:
    return [f"p95 < {policy.p95_degraded_ms:g}ms", f"error_rate < {policy.max_error_rate * 100:g}%"]


def _measure(
    package: ModulePackage,
    policy: Policy,
    backend: SandboxBackend | None,
    options: Options,
) -> _Measured:
    """Load cold then warm and send the health calls; the backend is closed if we opened it."""
    with ExitStack() as stack:
        if backend is None:
            backend = open_backend(BackendKind(package.manifest.runtime.kind), options.cache_dir)
            stack.callback(backend.close)
        manifest = package.manifest
        applied = limits_for(manifest, policy.defaults.sandbox(), policy.ceilings.sandbox())
        workspace = stack.enter_context(Workspace(manifest, options.storage, options.host))
        loaded, times = measure_load(
            backend,
            package,
            applied.limits,
            workspace.grants,
            warm_runs=options.warm_runs,
            fresh=options.cold,
        )
        result: ProbeResult | None = None
        if loaded.instance is not None:
            with loaded.instance as instance:
                result = probe(instance, health_request(manifest), count=options.calls)
        test = None
        if options.load_test is not None and loaded.instance is not None:
            from sandbench.runtime.gateway import ModuleSpec as Spec

            spec = Spec(package.root.name, package, applied.limits, workspace.grants)
            thresholds = [parse_threshold(t) for t in _policy_thresholds(policy)]
            test, _ = _load_test(spec, backend, options.load_test, thresholds, 2, stack)
        return _Measured(times, loaded, result, applied, backend.describe(), test)


def _bench_measure(
    package: ModulePackage,
    policy: Policy,
    backend: SandboxBackend,
    config: LoadTestConfig,
    thresholds: Sequence[Threshold],
    counts: tuple[int, int, int],
    host: HostSettings | None,
) -> BenchResult:
    from sandbench.bench.measure import measure_invoke, measure_loads
    from sandbench.bench.sampler import Sampler
    from sandbench.runtime.server import module_specs

    reps, invokes, instances = counts
    with ExitStack() as stack:
        spec = module_specs(
            [package.root], policy.defaults.sandbox(), policy.ceilings.sandbox(), stack, host
        )[0]
        loads = measure_loads(backend, package, spec.limits, spec.grants, reps=reps)
        common = {"module_id": package.manifest.module_id, "version": package.manifest.version,
                  "backend": backend.describe(), "instances": instances, "loads": loads}  # fmt: skip
        if loads.violation is not None:
            reason = "the module does not load"
            return BenchResult(**common, skipped={"invoke": reason, "load-test": reason})
        request = health_request(package.manifest)
        loaded = backend.load(package, spec.limits, spec.grants)
        assert loaded.instance is not None  # it loaded a moment ago  # noqa: S101
        with loaded.instance as instance:
            invoke = measure_invoke(instance, request, count=invokes)
        with Sampler([os.getpid()], children=False) as sampler:
            test, containers = _load_test(spec, backend, config, thresholds, instances, stack)
        skipped = {} if containers else {
            "cgroups": "the WASM backend runs in this process: its use is in `server`"
        }  # fmt: skip
        return BenchResult(**common, invoke=invoke, load_test=test, server=sampler.samples,
                           containers=containers, skipped=skipped)  # fmt: skip


def _load_test(
    spec: ModuleSpec,
    backend: SandboxBackend,
    config: LoadTestConfig,
    thresholds: Sequence[Threshold],
    instances: int,
    stack: ExitStack,
) -> tuple[LoadTestResult, list[ResourceSample]]:
    """Serve the module through an in-process gateway on loopback and load-test its health
    request with locust (in its own process) at `config`'s users, rate and duration.

    For a container module the containers' cgroup counters are sampled meanwhile (the
    second item); a WASM module runs in this process, which the caller samples.
    """
    from sandbench.bench.loadtest import run_load_test
    from sandbench.bench.sampler import CgroupSampler
    from sandbench.runtime.gateway import Gateway
    from sandbench.runtime.server import BackgroundServer

    request = health_request(spec.package.manifest)
    gateway = stack.enter_context(Gateway([spec], backend, instances=instances))
    gateway.start()
    server = stack.enter_context(BackgroundServer(gateway))
    query = f"?{request.query}" if request.query else ""
    target = config.model_copy(update={
        "url": server.url, "path": f"/{spec.route}{request.path}{query}",
        "method": request.method, "body": request.body,
    })  # fmt: skip
    if spec.package.manifest.runtime.kind != "container":
        return run_load_test(target, thresholds), []
    with CgroupSampler(gateway.live_instances) as containers:
        test = run_load_test(target, thresholds)
    return test, containers.samples
