"""The data path, strung together: `check()`, `gate()`, `bench()`, `scan()` and `serve()`.

Every entry point (the CLI, the Python API, the pytest plugin, nightly) calls these. Each
step is a function of its package; this module orders them and keeps the gate's deadline;
`.assessing` is the run they share: open a backend the caller did not pass (and close
it), measure the module in the sandbox, gather the evidence and assess it.

    check: load (dir) -> sandbox: cold + warm loads, health calls -> assess
    gate:  load (dir or archive) -> scanners (concurrently) -> sandbox smoke test -> assess
    bench: load (dir) -> load times, in-process calls, HTTP load test (gateway) -> check
    scan:  load (dir) -> scanners (concurrently)
    serve: load (dirs) -> the gateway on uvicorn (WASM) until SIGTERM or SIGINT
    paired: load (two dirs) -> both warm on one backend, their calls alternated in blocks
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import NamedTuple

from sandbench import runtime
from sandbench.bench.deadline import Deadline
from sandbench.bench.loadtest import LoadTestConfig
from sandbench.bench.paired import PairedPlan, PairedRun, paired_blocks
from sandbench.bench.result import BenchResult
from sandbench.bench.sequence import BenchPlan, measure_all
from sandbench.bench.thresholds import parse_threshold
from sandbench.hostapi import HostSettings
from sandbench.manifests import (
    TrustStore,
    load,
    load_trust_store,
)
from sandbench.manifests.archive import opened
from sandbench.progress import Progress, Steps
from sandbench.reports import HealthReport, Policy, Skipped
from sandbench.reports.drawn import load_test_thresholds
from sandbench.sandbox import BackendKind
from sandbench.scanners import (
    BackgroundScan,
    Scanner,
    ScanPolicy,
    ScanReport,
    ScanResult,
    default_scanners,
    load_baseline,
    scan_all,
)

from .assessing import (
    NOT_IN_CHECK,
    Backend,
    Options,
    applied_limits,
    assessed,
    measure,
    module_target,
    open_for,
)

__all__ = [
    "Backend",
    "BenchRun",
    "Options",
    "bench",
    "check",
    "gate",
    "live_modules",
    "paired",
    "scan",
    "serve",
    "suggest_security",
]


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
                      cache_dir=cache_dir, skipped=NOT_IN_CHECK, host=host, trust=trust,
                      steps=steps)  # fmt: skip
    return assessed(load(path), policy, backend, options, scans=tuple)


def paired(
    candidate: Path | str,
    baseline: Path | str,
    precise: Callable[[list[float]], bool],
    *,
    policy: Policy | None = None,
    backend: Backend = None,
    cache_dir: Path | None = None,
    plan: PairedPlan | None = None,
) -> PairedRun:
    """The candidate module folder against its baseline's, in blocks of alternated calls
    (`bench.paired.paired_blocks`: `precise` decides when the blocks are enough).

    Both run on one backend (the candidate's `runtime.kind` unless `backend`) under their
    own manifests' limits and their own temporary storage. A container's CPU value of a
    block is its cgroup's CPU time per request (mean), a WASM one's the median call.
    Raises `ManifestError` for an invalid module, `SandboxError` for host faults.
    """
    policy = policy or Policy()
    packages = load(candidate), load(baseline)
    with ExitStack() as stack:
        kind = BackendKind(packages[0].manifest.runtime.kind)
        opened_backend = open_for(backend, kind, cache_dir, stack, policy)
        first, second = (
            module_target(p, applied_limits(p, policy).limits, stack, None, None) for p in packages
        )
        plan = plan or PairedPlan()
        if opened_backend.name != "wasm":
            plan = plan.model_copy(update={"cpu_statistic": "mean"})
        return paired_blocks(opened_backend, first, second, plan, precise)


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
        image = runtime.image_packages(package) if scanners is None else None
        if scanners is None:
            scanners = default_scanners(
                policy.scan, osv_url=osv_url, advisory_store=advisory_store, image_packages=image
            )
        steps.start("scanning")
        # The scans run beside loading and the health calls, and end before the load test
        # starts (`settle`): the gate takes the longer of the two, not their sum.
        with BackgroundScan(package, scanners, policy.scan, deadline=clock.at) as scanning:
            off = (Skipped(check_id="load-test", reason="turned off by the caller"),)
            options = Options(calls=3, warm_runs=3, cache_dir=cache_dir, load_test=load_test,
                              skipped=off if load_test is None else (), host=host, trust=trust,
                              deadline=clock, cold=cold, steps=steps,
                              settle=scanning.result)  # fmt: skip
            scans = partial(_gate_scans, scanning, clock)
            return assessed(package, policy, backend, options, scans=scans, image=image)


def _gate_scans(scanning: BackgroundScan, clock: Deadline) -> tuple[ScanResult, ...]:
    """Every scanner's result, within the deadline; the ones it stopped are noted as cut."""
    scans = scanning.result().results
    if clock.left_s() <= 0:
        late = [s.scanner for s in scans if s.skipped_reason and "budget" in s.skipped_reason]
        clock.cut.append(f"scanners not done: {', '.join(late) or 'none'}")
    return scans


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
    workers: int = 1,
) -> None:
    """Serve the module folders `paths` over HTTP at /{folder name}/ (with /healthz and
    /metrics) on `listen`:`port` until SIGTERM or SIGINT; then release everything and
    return. Each module runs with its manifest's limits, `instances` live instances each;
    `announce` hears each module's state and the address served. `workers` above 1 serves
    from that many processes sharing the port and each module's CPU share
    (`runtime.workers`); `backend` must then be a `BackendKind`.

    Raises `ManifestError` for an invalid module, `ValueError` for two modules at one route
    and `SandboxError` when the address cannot be bound or the backend cannot run.
    """
    from sandbench.runtime.server import module_specs, serve_modules
    from sandbench.runtime.workers import serve_workers

    policy = policy or Policy()
    with ExitStack() as stack:
        specs = module_specs([Path(p) for p in paths], policy.defaults.sandbox(),
                             policy.ceilings.sandbox(), stack, host)  # fmt: skip
        if workers > 1:
            if backend is not None and not isinstance(backend, BackendKind):
                raise ValueError("serving from several workers needs a backend kind")
            serve_workers(specs, backend=backend or BackendKind.WASM, cache_dir=cache_dir,
                          listen=listen, port=port, instances=instances, workers=workers,
                          announce=announce, compile_bounds=policy.compile_bounds())  # fmt: skip
            return
        serving = open_for(backend, BackendKind.WASM, cache_dir, stack, policy)
        serve_modules(specs, serving, listen=listen, port=port, instances=instances,
                      announce=announce)  # fmt: skip


def live_modules(policy: Policy | None = None) -> runtime.LiveModules:
    """A WASM backend, opened once, loading modules as `check` does, with the manifests'
    limits clamped by `policy` (the pytest plugin's session); close it when done. Raises
    `BackendUnavailable` when it cannot run here."""
    policy = policy or Policy()
    return runtime.LiveModules(
        BackendKind.WASM, policy.defaults.sandbox(), policy.ceilings.sandbox()
    )


def suggest_security(
    path: Path | str, *, policy: Policy | None = None, backend: Backend = None
) -> runtime.Suggestion:
    """Run the module's health calls and size its `security` block from what they used."""
    package = load(path)
    seen = measure(package, policy or Policy(), backend, Options())
    smoke = seen.smoke
    outcomes = smoke.probe.outcomes if smoke.probe is not None else ()
    return runtime.suggest(package.manifest, seen.applied.limits, smoke.loaded.imports, outcomes)


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
        kind = BackendKind(package.manifest.runtime.kind)
        backend = open_for(backend, kind, cache_dir, stack, policy)
        with ExitStack() as measuring:  # the gateway and storage go before the health check
            target = module_target(
                package, applied_limits(package, policy).limits, measuring, None, host
            )
            plan = BenchPlan(target, reps=reps, invokes=invokes, instances=instances, cold=cold)
            result = measure_all(backend, plan, config, wanted, measuring, steps)
        skipped = (NOT_IN_CHECK[0],) + (
            () if result.load_test else (Skipped(check_id="load-test", reason="did not run"),)
        )
        options = Options(warm_runs=min(reps, 5), skipped=skipped, host=host, steps=steps)
        health = assessed(
            package, policy, backend, options, scans=tuple, load_test=result.load_test
        )
    return BenchRun(health=health, bench=result)
