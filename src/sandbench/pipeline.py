"""The data path, strung together: `check()`, `gate()`, `bench()`, `scan()` and `serve()`.

Every entry point (the CLI, the Python API, the pytest plugin, nightly) calls these. Each
step is a function of its package; this module orders them, opens a backend the caller did
not pass (and closes it), and keeps the gate's deadline.

    check: load (dir) -> sandbox: cold + warm loads, health calls -> assess
    gate:  load (dir or archive) -> scanners (concurrently) -> sandbox smoke test -> assess
    bench: check -> load times, in-process calls, HTTP load test through the gateway
    scan:  load (dir) -> scanners (concurrently)
    serve: load (dirs) -> the gateway on uvicorn until SIGTERM or SIGINT
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from sandbench._version import __version__, installed_versions
from sandbench.bench import LoadTimes, ProbeResult, measure_load, probe
from sandbench.bench.deadline import STEP_S, Deadline
from sandbench.bench.loadtest import LoadTestConfig, LoadTestResult
from sandbench.bench.result import BenchResult
from sandbench.bench.sequence import BenchPlan, aim, measure_all, sampled_load_test
from sandbench.bench.thresholds import Threshold, parse_threshold
from sandbench.errors import SandboxError
from sandbench.hostapi import HostSettings
from sandbench.manifests import ModulePackage, TrustStore, load, load_trust_store, verify_publisher
from sandbench.manifests.archive import opened
from sandbench.progress import Progress, Steps
from sandbench.reports import Evidence, HealthReport, Policy, Skipped, assess
from sandbench.reports.drawn import load_test_thresholds
from sandbench.reports.model import GateDeadline
from sandbench.reports.parts import module_parts
from sandbench.runtime import (
    AppliedLimits,
    LiveModule,
    Suggestion,
    Workspace,
    health_request,
    limits_for,
    observed_use,
    suggest,
)
from sandbench.sandbox import (
    BackendKind,
    Closing,
    Grants,
    LoadResult,
    SandboxBackend,
    Violation,
    ViolationKind,
    open_backend,
)
from sandbench.scanners import (
    ImagePackages,
    Scanner,
    ScanPolicy,
    ScanReport,
    ScanResult,
    default_scanners,
    load_baseline,
    scan_all,
    unused_permissions,
)

if TYPE_CHECKING:
    from sandbench.bench.sampler import ResourceSample
    from sandbench.runtime.gateway import ModuleSpec

__all__ = [
    "Backend",
    "BenchRun",
    "LiveModules",
    "Options",
    "bench",
    "check",
    "gate",
    "scan",
    "serve",
    "suggest_security",
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


_NOT_IN_CHECK = (
    Skipped(check_id="scanners", reason="`sandbench check` runs no static scanners"),
    Skipped(check_id="load-test", reason="`sandbench check` runs no HTTP load test"),
)


def check(
    path: Path | str,
    *,
    policy: Policy | None = None,
    backend: Backend = None,
    storage: Path | None = None,
    calls: int = 5,
    warm_runs: int = 5,
    cache_dir: Path | None = None,
    host: HostSettings | None = None,
    cold: bool = False,
    progress: Progress | None = None,
) -> HealthReport:
    """Validate, load (cold, then warm) and health-check the module folder at `path`.

    Without `backend`, the one `runtime.kind` names is opened (and closed) here.
    The cold load is the compile recorded with the cached artifact when there is one;
    `cold=True` compiles afresh. `progress` hears each step (`sandbench.progress`).
    `module.sig` is judged against `policy.signatures` (its allowed signers and revoked
    keys, read first: `TrustError` for a bad file).
    Raises `ManifestError` for an invalid module and `SandboxError` for host faults
    (`BackendUnavailable` when that backend cannot run here); anything the module itself
    does wrong is in the report.
    """
    policy = policy or Policy()
    trust = _trust(policy)
    steps = Steps(progress, 4)
    steps.start("validating")
    options = Options(calls=calls, warm_runs=warm_runs, cold=cold, storage=storage,
                      cache_dir=cache_dir, skipped=_NOT_IN_CHECK, host=host, trust=trust,
                      steps=steps)  # fmt: skip
    return _run(load(path), policy, backend, options, scans=())


def _trust(policy: Policy) -> TrustStore | None:
    """The policy's trust store, read before anything runs so a bad file fails fast."""
    return load_trust_store(policy.signatures.allowed_signers, policy.signatures.revoked)


# 3 s: long enough that a module stalling one second in three always shows a full stall.
GATE_LOAD_TEST = LoadTestConfig(
    url="http://127.0.0.1", users=5, rate=50.0, duration_s=3.0, max_requests=200
)


def gate(
    path: Path | str,
    *,
    policy: Policy | None = None,
    backend: Backend = None,
    scanners: Sequence[Scanner] | None = None,
    osv_url: str | None = None,
    advisory_store: Path | None = None,
    cache_dir: Path | None = None,
    load_test: LoadTestConfig | None = GATE_LOAD_TEST,
    host: HostSettings | None = None,
    cold: bool = False,
    progress: Progress | None = None,
) -> HealthReport:
    """The registry's pre-publish gate for a module folder or `.tar.gz`/`.zip` archive.

    Validates, verifies the digest and signature, runs every scanner concurrently (the
    built-in ones unless `scanners` is given; pip-audit asks the OSV endpoint that
    `scanners.advisory_source` resolves from `osv_url`, $SANDBENCH_OSV_URL and the policy,
    else the local advisory store served on loopback), smoke tests the module in the sandbox, load-tests
    its health request through the gateway on loopback (`load_test`; None skips it) and
    assesses it all under `policy`. Archives are extracted safely to a private folder that
    is removed afterwards. `backend`, `cold` and `progress` as for `check`.

    The whole gate runs under `policy.gate_deadline_s`: each scanner's budget is cut to it,
    each sandbox call's timeout is cut to what is left, and steps that would start after it
    do not; the `gate-deadline` rule then fails the report (critical) and names them.
    """
    policy = policy or Policy()
    trust = _trust(policy)
    clock = Deadline(policy.gate_deadline_s)
    steps = Steps(progress, 5 if load_test is None else 6)
    steps.start("validating")
    with opened(path) as root:
        package = load(root)
        image = _image_packages(package) if scanners is None else None
        if scanners is None:
            scanners = default_scanners(
                policy.scan, osv_url=osv_url, advisory_store=advisory_store, image_packages=image
            )
        steps.start("scanning")
        scans = _gate_scans(package, scanners, policy.scan, clock)
        off = (Skipped(check_id="load-test", reason="turned off by the caller"),)
        options = Options(calls=3, warm_runs=3, cache_dir=cache_dir, load_test=load_test,
                          skipped=off if load_test is None else (), host=host, trust=trust,
                          deadline=clock, cold=cold, steps=steps)  # fmt: skip
        return _run(package, policy, backend, options, scans=scans, image=image)


def _gate_scans(
    package: ModulePackage, scanners: Sequence[Scanner], policy: ScanPolicy, clock: Deadline
) -> tuple[ScanResult, ...]:
    """Every scanner within the deadline; the ones it stopped are noted as cut."""
    scans = scan_all(package, scanners, policy, deadline=clock.at).results
    if clock.left_s() <= 0:
        late = [s.scanner for s in scans if s.skipped_reason and "budget" in s.skipped_reason]
        clock.cut.append(f"scanners not done: {', '.join(late) or 'none'}")
    return scans


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


def scan(
    path: Path | str,
    *,
    policy: ScanPolicy | None = None,
    baseline: Path | None = None,
    osv_url: str | None = None,
    advisory_store: Path | None = None,
) -> ScanReport:
    """Every built-in static scanner over the module folder at `path`, concurrently; the
    module's code never runs. `baseline` is a file of accepted fingerprints; the advisory
    database is chosen as for `gate`.

    Raises `ManifestError` for an invalid module and `ScanInputError` for an unusable
    baseline; a scanner that cannot run is in the report as not done, with why.
    """
    package = load(path)
    policy = policy or ScanPolicy()
    accepted = load_baseline(baseline) if baseline else frozenset()
    scanners = default_scanners(policy, osv_url=osv_url, advisory_store=advisory_store)
    return scan_all(package, scanners, policy, accepted)


def _quiet(_line: str) -> None:
    """An `announce` that says nothing."""


def serve(
    paths: Sequence[Path | str],
    *,
    listen: str = "127.0.0.1",
    port: int = 8000,
    instances: int = 4,
    policy: Policy | None = None,
    backend: Backend = BackendKind.WASM,
    cache_dir: Path | None = None,
    host: HostSettings | None = None,
    announce: Callable[[str], None] = _quiet,
) -> None:
    """Serve the module folders `paths` over HTTP at /{folder name}/ (with /healthz and
    /metrics) on `listen`:`port` until SIGTERM or SIGINT; then release everything and
    return. Each module runs with its manifest's limits, `instances` live instances each;
    `announce` hears each module's state and the address served.

    Raises `ManifestError` for an invalid module, `ValueError` for two modules at one route
    and `SandboxError` when the address cannot be bound or the backend cannot run.
    """
    from sandbench.runtime.gateway import Gateway
    from sandbench.runtime.server import bind, module_specs, serve_until_signalled

    policy = policy or Policy()
    with ExitStack() as stack:
        specs = module_specs([Path(p) for p in paths], policy.defaults.sandbox(),
                             policy.ceilings.sandbox(), stack, host)  # fmt: skip
        opened_backend = _open(backend, BackendKind.WASM, cache_dir, stack)
        gateway = stack.enter_context(Gateway(specs, opened_backend, instances=instances))
        for route, state in gateway.start().items():
            announce(f"/{route}/ {state}")
        sock = bind(listen, port)
        stack.callback(sock.close)
        shown = f"[{listen}]" if ":" in listen else listen
        announce(f"serving on http://{shown}:{sock.getsockname()[1]}")
        serve_until_signalled(gateway, sock)


def _open(
    backend: Backend, kind: BackendKind, cache_dir: Path | None, stack: ExitStack
) -> SandboxBackend:
    """`backend` itself, or the one it names (else `kind`), opened here and closed by `stack`."""
    if backend is not None and not isinstance(backend, BackendKind):
        return backend
    new = open_backend(backend or kind, cache_dir)
    stack.callback(new.close)
    return new


def _kind(package: ModulePackage) -> BackendKind:
    """The backend the manifest's `runtime.kind` names."""
    return BackendKind(package.manifest.runtime.kind)


class LiveModules(Closing):
    """One backend (`kind`), opened once, loading modules as `check` does (the pytest
    plugin's session). Raises `BackendUnavailable` when it cannot run here."""

    def __init__(self, kind: BackendKind = BackendKind.WASM, policy: Policy | None = None) -> None:
        self._backend = open_backend(kind)
        self._policy = policy or Policy()

    def load(self, path: Path | str) -> LiveModule:
        """The module folder at `path`, loaded (see `runtime.LiveModule`). Raises
        `ManifestError` for an invalid module and `SandboxError` for host faults."""
        policy = self._policy
        return LiveModule(load(path), self._backend, policy.defaults.sandbox(),
                          policy.ceilings.sandbox())  # fmt: skip

    def close(self) -> None:
        """Close the backend. Closing twice is harmless."""
        self._backend.close()


def suggest_security(
    path: Path | str, *, policy: Policy | None = None, backend: Backend = None
) -> Suggestion:
    """Run the module's health calls and size its `security` block from what they used."""
    package = load(path)
    seen = _measure(package, policy or Policy(), backend, Options())
    outcomes = seen.probe.outcomes if seen.probe is not None else ()
    return suggest(package.manifest, seen.applied.limits, seen.loaded.imports, outcomes)


@dataclass(frozen=True)
class _Measured:
    """What the sandbox part of a run saw."""

    times: LoadTimes
    loaded: LoadResult
    probe: ProbeResult | None
    applied: AppliedLimits
    backend: str
    load_test: LoadTestResult | None = None
    skipped: tuple[Skipped, ...] = ()


def _run(
    package: ModulePackage,
    policy: Policy,
    backend: Backend,
    options: Options,
    scans: tuple[ScanResult, ...],
    load_test: LoadTestResult | None = None,
    image: ImagePackages | None = None,
) -> HealthReport:
    """Measure, then assess; `load_test` is one the caller already ran (bench), `image` the
    container image's distributions the gate listed (for the report's parts)."""
    seen = _measure(package, policy, backend, options)
    options.steps.start("assessing")
    if load_test is not None:
        seen = replace(seen, load_test=load_test)
    report = assess(_evidence(package, seen, options, scans, image), policy)
    options.steps.finish(report.status.value)
    return report


def _evidence(
    package: ModulePackage,
    seen: _Measured,
    options: Options,
    scans: tuple[ScanResult, ...],
    image: ImagePackages | None,
) -> Evidence:
    """Everything `assess` judges, from the package, the sandbox run and the scans."""
    manifest, clock = package.manifest, options.deadline
    deadline = None if clock is None else GateDeadline(
        limit_s=clock.limit_s, elapsed_s=clock.elapsed_s(), cut=tuple(clock.cut)
    )  # fmt: skip
    return Evidence(
        module_id=manifest.module_id, version=manifest.version, digest=package.digest,
        declared_signature=manifest.signature, author=manifest.author,
        publisher=verify_publisher(package, options.trust),
        applied=seen.applied, backend=seen.backend, tool_version=__version__,
        load=seen.times, load_violation=seen.loaded.violation,
        dependencies=seen.loaded.dependencies, request=health_request(manifest),
        expect=manifest.health.expect, probe=seen.probe, load_test=seen.load_test,
        scans=scans + _least_privilege(package, seen, scans),
        components=installed_versions(["wasmtime"] + (["bandit", "pip-audit"] if scans else [])),
        skipped=options.skipped + seen.skipped, deadline=deadline,
        checked_at=datetime.now(UTC), parts=module_parts(package, image, scans),
    )  # fmt: skip


def _least_privilege(
    package: ModulePackage, seen: _Measured, scans: tuple[ScanResult, ...]
) -> tuple[ScanResult, ...]:
    """Unused permissions, judged by the imports the sandbox linked and the host calls the
    health calls made, as findings.

    Nothing when the module did not load, for a container (its file and network use is not
    observed yet), or when the capabilities scanner already judged the imports statically
    (the gate), so a permission is not reported twice.
    """
    judged = any(s.scanner == "capabilities" for s in scans)
    if seen.loaded.violation is not None or judged or package.manifest.runtime.kind != "wasm":
        return ()
    outcomes = seen.probe.outcomes if seen.probe is not None else ()
    uses = observed_use(package.manifest, seen.loaded.imports, outcomes)
    return (unused_permissions((u.permission, u.evidence) for u in uses if not u.used),)


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
    backend: Backend = None,
    cache_dir: Path | None = None,
    reps: int = 10,
    invokes: int = 200,
    instances: int = 4,
    host: HostSettings | None = None,
    cold: bool = False,
    progress: Progress | None = None,
) -> BenchRun:
    """Check the module at `path`, then measure it: load times over `reps` repetitions,
    `invokes` in-process calls, and an HTTP load test through the gateway (`load_test`
    gives users, rate and duration; its `url` is ignored). `thresholds` default to the
    policy's (`p95 < 100ms`, `error_rate < 0.5%`). `backend`, `host`, `progress` as for
    `check`. Cold loads are compiled `reps` times only with `cold`; otherwise the compile
    recorded with the cached artifact is the cold figure (when there is one).

    Raises `ManifestError` for an invalid module, `BenchError` for a bad threshold or when
    locust cannot run, `SandboxError` for host faults.
    """
    policy = policy or Policy()
    wanted = load_test_thresholds(policy) if thresholds is None else [
        parse_threshold(text) for text in thresholds
    ]  # fmt: skip
    steps = Steps(progress, 7)
    steps.start("validating")
    package = load(path)
    config = load_test or LoadTestConfig(url="http://127.0.0.1")
    with ExitStack() as stack:
        backend = _open(backend, _kind(package), cache_dir, stack)
        with ExitStack() as measuring:  # the gateway and storage go before the health check
            plan = _bench_plan(package, policy, host, measuring, (reps, invokes, instances), cold)
            result = _bench_measure(backend, plan, config, wanted, steps, measuring)
        skipped = (_NOT_IN_CHECK[0],) + (
            () if result.load_test else (Skipped(check_id="load-test", reason="did not run"),)
        )
        options = Options(warm_runs=min(reps, 5), skipped=skipped, host=host, steps=steps)
        health = _run(package, policy, backend, options, scans=(), load_test=result.load_test)
    return BenchRun(health=health, bench=result)


def _bench_plan(
    package: ModulePackage,
    policy: Policy,
    host: HostSettings | None,
    stack: ExitStack,
    counts: tuple[int, int, int],
    cold: bool,
) -> BenchPlan:
    """What `bench` measures: the module with its limits and a storage workspace (closed by
    `stack`), its health request, how often and whether cold loads compile afresh."""
    applied = limits_for(package.manifest, policy.defaults.sandbox(), policy.ceilings.sandbox())
    workspace = stack.enter_context(Workspace(package.manifest, host=host))
    reps, invokes, instances = counts
    return BenchPlan(package, applied.limits, workspace.grants, health_request(package.manifest),
                     reps=reps, invokes=invokes, instances=instances, cold=cold)  # fmt: skip


def _bench_measure(
    backend: SandboxBackend,
    plan: BenchPlan,
    config: LoadTestConfig,
    thresholds: Sequence[Threshold],
    steps: Steps,
    stack: ExitStack,
) -> BenchResult:
    """`bench.measure_all`, its load test served through the gateway (closed by `stack`)."""
    from sandbench.runtime.gateway import ModuleSpec as Spec

    spec = Spec(plan.package.root.name, plan.package, plan.limits, plan.grants)
    return measure_all(
        backend,
        plan,
        lambda: _load_test(spec, backend, config, thresholds, plan.instances, stack),
        steps,
    )


def _measure(
    package: ModulePackage, policy: Policy, backend: Backend, options: Options
) -> _Measured:
    """Load cold then warm, send the health calls and (a gate) load-test; a backend opened
    here is closed here. Under a deadline nothing starts after it and no call runs past it."""
    from sandbench.runtime.gateway import ModuleSpec as Spec

    clock = options.deadline
    applied = limits_for(package.manifest, policy.defaults.sandbox(), policy.ceilings.sandbox())
    if not _starts(clock, "the sandbox test"):
        return _not_measured(applied)
    with ExitStack() as stack:
        backend = _open(backend, _kind(package), options.cache_dir, stack)
        if clock is not None:
            clock.watch(backend, stack)
        limits = applied.limits if clock is None else clock.limits(applied.limits)
        workspace = stack.enter_context(Workspace(package.manifest, options.storage, options.host))
        options.steps.start("loading (compiling)" if options.cold else "loading")
        loaded, times = measure_load(
            backend, package, limits, workspace.grants, warm_runs=options.warm_runs,
            until=None if clock is None else clock.at,
            warm_budget_s=None if clock is None else STEP_S, cold=options.cold,
        )  # fmt: skip
        probed = _health_calls(loaded, package, options)
        failed = _failed_health(probed, clock)
        spec = Spec(package.root.name, package, limits, workspace.grants)
        test = None if failed else _gate_load_test(spec, backend, loaded, policy, options, stack)
        return _Measured(times, loaded, probed, applied, backend.describe(), test, failed)


def _starts(clock: Deadline | None, step: str, needs_s: float = 0.0) -> bool:
    """True without a deadline; else `Deadline.starts`."""
    return clock is None or clock.starts(step, needs_s)


def _health_calls(
    loaded: LoadResult, package: ModulePackage, options: Options
) -> ProbeResult | None:
    """`options.calls` health requests on the loaded instance (closed after), within the
    deadline; None when the module did not load or the deadline passed."""
    if loaded.instance is None:
        return None
    options.steps.start("health calls")
    clock = options.deadline
    with loaded.instance as instance:
        if not _starts(clock, "health calls"):
            return None
        until = None if clock is None else clock.step_until()
        return probe(instance, health_request(package.manifest), count=options.calls,
                     until=until)  # fmt: skip


def _failed_health(probed: ProbeResult | None, clock: Deadline | None) -> tuple[Skipped, ...]:
    """Under a deadline (the gate), a module whose health calls broke a limit is not
    load-tested: it is critical already, and each request could take its whole timeout."""
    if clock is None or probed is None or not probed.violations:
        return ()
    reason = "not run: the health calls broke a limit (the module is critical already)"
    return (Skipped(check_id="load-test", reason=reason),)


_LOAD_TEST_MARGIN_S = 10.0  # locust's start-up and shut-down around the test's duration


def _gate_load_test(
    spec: ModuleSpec,
    backend: SandboxBackend,
    loaded: LoadResult,
    policy: Policy,
    options: Options,
    stack: ExitStack,
) -> LoadTestResult | None:
    """The gate's load test (`options.load_test`) with the reference module beside it; none
    when the module did not load or too little time is left before the deadline."""
    config = options.load_test
    if config is None or loaded.instance is None:
        return None
    if not _starts(options.deadline, "load test", config.duration_s + _LOAD_TEST_MARGIN_S):
        return None
    options.steps.start("load test")
    thresholds = load_test_thresholds(policy)
    test, _ = _load_test(spec, backend, config, thresholds, 2, stack, reference=True)
    return test


def _not_measured(applied: AppliedLimits) -> _Measured:
    """What the sandbox part reports when the deadline passed before it started."""
    message = "not loaded: the gate's deadline passed before the sandbox test started"
    violation = Violation(kind=ViolationKind.TIMEOUT, message=message, phase="load")
    times = LoadTimes(cold_ms=0.0, compile_ms=0.0)
    return _Measured(times, LoadResult(violation=violation), None, applied, "not started")


def _load_test(
    spec: ModuleSpec,
    backend: SandboxBackend,
    config: LoadTestConfig,
    thresholds: Sequence[Threshold],
    instances: int,
    stack: ExitStack,
    *,
    reference: bool = False,
) -> tuple[LoadTestResult, list[ResourceSample]]:
    """Serve the module through an in-process gateway on loopback and load-test its health
    request with locust (in its own process) at `config`'s users, rate and duration.

    With `reference` and a WASM backend, the built-in reference module is served beside it
    and loaded at the same rate (`LoadTestResult.reference_ms`: the machine's share).

    For a container module the containers' cgroup counters are sampled meanwhile (the
    second item); a WASM module runs in this process, which the caller samples.
    """
    from sandbench.runtime.gateway import Gateway
    from sandbench.runtime.server import BackgroundServer

    specs = [spec]
    if reference and backend.name == "wasm":
        specs.append(_reference_spec(stack))
    gateway = stack.enter_context(Gateway(specs, backend, instances=instances))
    gateway.start()
    server = stack.enter_context(BackgroundServer(gateway))
    beside = f"/{specs[1].route}/" if len(specs) > 1 else None
    request = health_request(spec.package.manifest)
    target = aim(config, server.url, f"/{spec.route}", request, beside)
    containers = spec.package.manifest.runtime.kind == "container"
    return sampled_load_test(target, thresholds, gateway.live_instances if containers else None)


def _reference_spec(stack: ExitStack) -> ModuleSpec:
    """The built-in reference module, written to a temporary folder the stack removes."""
    from sandbench.bench.reference import REFERENCE_LIMITS, REFERENCE_ROUTE, reference_package
    from sandbench.runtime.gateway import ModuleSpec as Spec

    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sandbench-ref-")))
    return Spec(REFERENCE_ROUTE, reference_package(folder), REFERENCE_LIMITS, Grants())
