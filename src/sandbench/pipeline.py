"""The data path, strung together: `check()` and `gate()`.

The CLI and the Python API both call these; nothing here owns logic of its own.

    check: load (dir) -> sandbox: cold + warm loads, health calls -> assess
    gate:  load (dir or archive) -> scanners (concurrently) -> sandbox smoke test -> assess
"""

from __future__ import annotations

import importlib.metadata
import os
import tempfile
import threading
import time
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
from sandbench.manifests import ModulePackage, TrustStore, load, load_trust_store, verify_publisher
from sandbench.manifests.archive import opened
from sandbench.progress import Progress, Steps
from sandbench.reports import Evidence, HealthReport, Policy, Skipped, assess
from sandbench.reports.model import GateDeadline
from sandbench.runtime import (
    AppliedLimits,
    Suggestion,
    Workspace,
    health_request,
    limits_for,
    permission_use,
    suggest,
)
from sandbench.sandbox import (
    BackendKind,
    Grants,
    LoadResult,
    SandboxBackend,
    SandboxLimits,
    Violation,
    ViolationKind,
    open_backend,
)
from sandbench.scanners import (
    Finding,
    ImagePackages,
    Scanner,
    ScanResult,
    Severity,
    default_scanners,
    fingerprint,
    module_parts,
    scan_all,
)

__all__ = ["BenchRun", "Options", "bench", "check", "gate", "suggest_security"]


@dataclass
class Deadline:
    """The gate's overall deadline: steps check it, and what it stops is noted in `cut`."""

    limit_s: float
    started: float = field(default_factory=time.monotonic)
    cut: list[str] = field(default_factory=list)

    @property
    def at(self) -> float:
        """The deadline as a `time.monotonic()` value."""
        return self.started + self.limit_s

    def left_s(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - time.monotonic()

    def report(self) -> GateDeadline:
        """The evidence for the `gate-deadline` rule."""
        elapsed = time.monotonic() - self.started
        return GateDeadline(limit_s=self.limit_s, elapsed_s=elapsed, cut=tuple(self.cut))


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
    options = Options(
        calls=calls,
        warm_runs=warm_runs,
        cold=cold,
        storage=storage,
        cache_dir=cache_dir,
        skipped=_NOT_IN_CHECK,
        host=host,
        trust=trust,
        steps=steps,
    )
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
    backend: SandboxBackend | None = None,
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
    is removed afterwards. `cold` and `progress` as for `check`.

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
        scans = scan_all(package, scanners, policy.scan, deadline=clock.at).results
        if clock.left_s() <= 0:
            late = [s.scanner for s in scans if s.skipped_reason and "budget" in s.skipped_reason]
            clock.cut.append(f"scanners not done: {', '.join(late) or 'none'}")
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
            trust=trust,
            deadline=clock,
            cold=cold,
            steps=steps,
        )
        return _run(package, policy, backend, options, scans=scans, image=image)


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
    image: ImagePackages | None = None,
) -> HealthReport:
    """Measure, then assess; `load_test` is one the caller already ran (bench), `image` the
    container image's distributions the gate listed (for the report's parts)."""
    seen = _measure(package, policy, backend, options)
    options.steps.start("assessing")
    manifest = package.manifest
    evidence = Evidence(
        module_id=manifest.module_id,
        version=manifest.version,
        digest=package.digest,
        declared_signature=manifest.signature,
        publisher=verify_publisher(package, options.trust),
        author=manifest.author,
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
        skipped=options.skipped + seen.skipped,
        deadline=options.deadline.report() if options.deadline is not None else None,
        checked_at=datetime.now(UTC),
        parts=module_parts(package, image, scans),
    )
    report = assess(evidence, policy)
    options.steps.finish(report.status.value)
    return report


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
    skipped: tuple[Skipped, ...] = ()


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
    cold: bool = False,
    progress: Progress | None = None,
) -> BenchRun:
    """Check the module at `path`, then measure it: load times over `reps` repetitions,
    `invokes` in-process calls, and an HTTP load test through the gateway (`load_test`
    gives users, rate and duration; its `url` is ignored). `thresholds` default to the
    policy's (`p95 < 100ms`, `error_rate < 0.5%`). `host`, `progress` as for `check`.
    Cold loads are compiled `reps` times only with `cold`; otherwise the compile recorded
    with the cached artifact is the cold figure (when there is one).

    Raises `ManifestError` for an invalid module, `BenchError` for a bad threshold or when
    locust cannot run, `SandboxError` for host faults.
    """
    policy = policy or Policy()
    wanted = thresholds if thresholds is not None else _policy_thresholds(policy)
    parsed = [parse_threshold(text) for text in wanted]
    steps = Steps(progress, 7)
    steps.start("validating")
    with ExitStack() as stack:
        if backend is None:
            backend = open_backend(BackendKind(load(path).manifest.runtime.kind))
            stack.callback(backend.close)
        package = load(path)
        config = load_test or LoadTestConfig(url="http://127.0.0.1")
        counts = (reps, invokes, instances)
        how = _How(host, cold, steps)
        result = _bench_measure(package, policy, backend, config, parsed, counts, how)
        skipped = (_NOT_IN_CHECK[0],) + (
            () if result.load_test else (Skipped(check_id="load-test", reason="did not run"),)
        )
        options = Options(warm_runs=min(reps, 5), skipped=skipped, host=host, steps=steps)
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
    """Load cold then warm and send the health calls; the backend is closed if we opened it.
    Under a deadline, nothing starts after it and no call may run past it."""
    clock = options.deadline
    manifest = package.manifest
    applied = limits_for(manifest, policy.defaults.sandbox(), policy.ceilings.sandbox())
    if clock is not None and clock.left_s() <= 0:
        clock.cut.append("the sandbox test (not started)")
        return _not_measured(applied)
    until = clock.at if clock is not None else None
    with ExitStack() as stack:
        if backend is None:
            backend = open_backend(BackendKind(package.manifest.runtime.kind), options.cache_dir)
            stack.callback(backend.close)
        if clock is not None:
            _watchdog(clock, backend, stack)
        limits = _within(applied.limits, clock)
        workspace = stack.enter_context(Workspace(manifest, options.storage, options.host))
        options.steps.start("loading (compiling)" if options.cold else "loading")
        loaded, times = measure_load(
            backend, package, limits, workspace.grants, warm_runs=options.warm_runs,
            until=until, warm_budget_s=_STEP_S if clock is not None else None,
            cold=options.cold,
        )  # fmt: skip
        result: ProbeResult | None = None
        if loaded.instance is not None:
            options.steps.start("health calls")
            with loaded.instance as instance:
                if _started(clock, "health calls", 0):
                    result = probe(instance, health_request(manifest), count=options.calls,
                                   until=_step_until(until))  # fmt: skip
        test = None
        config = options.load_test
        needs_s = config.duration_s + _LOAD_TEST_MARGIN_S if config is not None else 0.0
        failed = _failed_health(result, clock)
        if (
            config is not None
            and loaded.instance is not None
            and not failed
            and _started(clock, "load test", needs_s)
        ):
            from sandbench.runtime.gateway import ModuleSpec as Spec

            spec = Spec(package.root.name, package, limits, workspace.grants)
            thresholds = [parse_threshold(t) for t in _policy_thresholds(policy)]
            options.steps.start("load test")
            test, _ = _load_test(spec, backend, config, thresholds, 2, stack, reference=True)
        return _Measured(times, loaded, result, applied, backend.describe(), test, failed)


# Under a deadline (the gate), no further warm load (health call) starts once the loads
# (calls) took this long: a module that slow fails `load-time` (`latency-p95`) anyway, and
# each load or call may take its whole timeout.
_STEP_S = 5.0


def _step_until(until: float | None) -> float | None:
    return None if until is None else min(until, time.monotonic() + _STEP_S)


_LOAD_TEST_MARGIN_S = 10.0  # locust's start-up and shut-down around the test's duration


def _failed_health(probed: ProbeResult | None, clock: Deadline | None) -> tuple[Skipped, ...]:
    """Under a deadline (the gate), a module whose health calls broke a limit is not
    load-tested: it is critical already, and each request could take its whole timeout."""
    if clock is None or probed is None or not probed.violations:
        return ()
    reason = "not run: the health calls broke a limit (the module is critical already)"
    return (Skipped(check_id="load-test", reason=reason),)


def _started(clock: Deadline | None, step: str, needs_s: float) -> bool:
    """False (and `step` noted as cut) when less than `needs_s` is left before the deadline."""
    if clock is None or clock.left_s() > needs_s:
        return True
    clock.cut.append(f"{step} (not started)")
    return False


def _watchdog(clock: Deadline, backend: SandboxBackend, stack: ExitStack) -> None:
    """At the deadline, end the backend's running calls (a backend that can: WASM; a
    container's request is bounded by its timeout, already cut by `_within`)."""
    expire = getattr(backend, "expire_calls", None)
    if expire is None:
        return
    timer = threading.Timer(max(0.0, clock.left_s()), expire)
    timer.daemon = True
    timer.start()

    def stop() -> None:
        timer.cancel()
        timer.join()

    stack.callback(stop)


def _within(limits: SandboxLimits, clock: Deadline | None) -> SandboxLimits:
    """`limits` with the per-call timeout cut to the time left before the deadline."""
    if clock is None:
        return limits
    left_ms = max(1, int(clock.left_s() * 1000))
    return limits if limits.timeout_ms <= left_ms else limits.model_copy(
        update={"timeout_ms": left_ms}
    )  # fmt: skip


def _not_measured(applied: AppliedLimits) -> _Measured:
    """What the sandbox part reports when the deadline passed before it started."""
    message = "not loaded: the gate's deadline passed before the sandbox test started"
    violation = Violation(kind=ViolationKind.TIMEOUT, message=message, phase="load")
    times = LoadTimes(cold_ms=0.0, compile_ms=0.0)
    return _Measured(times, LoadResult(violation=violation), None, applied, "not started")


class _How(NamedTuple):
    """How `bench` measures: host services, fresh compiles or not, where steps go."""

    host: HostSettings | None
    cold: bool
    steps: Steps


def _bench_measure(
    package: ModulePackage,
    policy: Policy,
    backend: SandboxBackend,
    config: LoadTestConfig,
    thresholds: Sequence[Threshold],
    counts: tuple[int, int, int],
    how: _How,
) -> BenchResult:
    from sandbench.bench.measure import measure_invoke, measure_loads
    from sandbench.bench.sampler import Sampler
    from sandbench.runtime.server import module_specs

    reps, invokes, instances = counts
    with ExitStack() as stack:
        spec = module_specs(
            [package.root], policy.defaults.sandbox(), policy.ceilings.sandbox(), stack, how.host
        )[0]
        how.steps.start(f"load times ({reps} cold and warm)" if how.cold else "load times")
        loads = measure_loads(backend, package, spec.limits, spec.grants, reps=reps, cold=how.cold)
        common = {"module_id": package.manifest.module_id, "version": package.manifest.version,
                  "backend": backend.describe(), "instances": instances, "loads": loads}  # fmt: skip
        if loads.violation is not None:
            reason = "the module does not load"
            return BenchResult(**common, skipped={"invoke": reason, "load-test": reason})
        request = health_request(package.manifest)
        loaded = backend.load(package, spec.limits, spec.grants)
        assert loaded.instance is not None  # it loaded a moment ago  # noqa: S101
        how.steps.start(f"{invokes} calls in process")
        with loaded.instance as instance:
            invoke = measure_invoke(instance, request, count=invokes)
        how.steps.start("load test")
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
    from sandbench.bench.loadtest import run_load_test
    from sandbench.bench.sampler import CgroupSampler
    from sandbench.runtime.gateway import Gateway
    from sandbench.runtime.server import BackgroundServer

    request = health_request(spec.package.manifest)
    specs = [spec]
    if reference and backend.name == "wasm":
        specs.append(_reference_spec(stack))
    gateway = stack.enter_context(Gateway(specs, backend, instances=instances))
    gateway.start()
    server = stack.enter_context(BackgroundServer(gateway))
    query = f"?{request.query}" if request.query else ""
    target = config.model_copy(update={
        "url": server.url, "path": f"/{spec.route}{request.path}{query}",
        "method": request.method, "body": request.body,
        "reference_path": f"/{specs[1].route}/" if len(specs) > 1 else None,
    })  # fmt: skip
    if spec.package.manifest.runtime.kind != "container":
        return run_load_test(target, thresholds), []
    with CgroupSampler(gateway.live_instances) as containers:
        test = run_load_test(target, thresholds)
    return test, containers.samples


def _reference_spec(stack: ExitStack) -> ModuleSpec:
    """The built-in reference module, written to a temporary folder the stack removes."""
    from sandbench.bench.reference import REFERENCE_ROUTE, reference_package
    from sandbench.runtime.gateway import ModuleSpec as Spec

    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sandbench-ref-")))
    limits = SandboxLimits(memory_bytes=16 << 20, cpu_millicores=1000, timeout_ms=2000)
    return Spec(REFERENCE_ROUTE, reference_package(folder), limits, Grants())
