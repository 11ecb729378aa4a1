"""Running every scanner over one module, concurrently, and applying suppressions once.

bandit and pip-audit are subprocesses, one thread each; the in-process readers run together
in one child process, so the scan takes about as long as its slowest scanner
(benchmarks/test_scan_speed.py measures it). Every scanner has a time budget
(`ScanPolicy.scan_budget_s`, cut to the gate's deadline): see `sandbench.scanners._support.bounded`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, date, datetime
from pathlib import Path

from pydantic import BaseModel

from sandbench._camel import CAMEL
from sandbench.manifests import ModulePackage

from ._support.bounded import cancel_all, deadline, run_isolated, timed
from .capabilities import CapabilityScanner
from .coverage import CoverageScanner
from .interface import Finding, Scanner, ScanResult, Severity
from .licenses import LicenseScanner
from .malware import MalwareScanner
from .manifest_lint import ManifestLintScanner
from .pip_audit import ImagePackages
from .plugins import ScannerContext, load_scanners
from .policy import Ignore, ScanPolicy, Suppressed, apply_suppressions

__all__ = ["BackgroundScan", "ScanReport", "default_scanners", "scan_all"]


class ScanReport(BaseModel):
    """Every scanner's result for one module, after suppressions."""

    model_config = CAMEL

    module_id: str
    version: str
    results: tuple[ScanResult, ...]
    suppressed: tuple[Suppressed, ...] = ()
    expired_ignores: tuple[Ignore, ...] = ()
    fail_on: Severity = Severity.HIGH
    elapsed_ms: float
    scanned_at: datetime

    @property
    def findings(self) -> tuple[Finding, ...]:
        """All findings that stand, worst first."""
        every = (f for r in self.results for f in r.findings)
        return tuple(sorted(every, key=lambda f: (f.severity.rank, f.scanner, str(f.path))))

    @property
    def skipped(self) -> tuple[ScanResult, ...]:
        """The scanners that could not run."""
        return tuple(r for r in self.results if r.skipped_reason is not None)

    @property
    def failed(self) -> bool:
        """True when a finding is at or above `fail_on`, or a scanner could not run."""
        return bool(self.skipped) or any(f.severity.at_least(self.fail_on) for f in self.findings)


def default_scanners(
    policy: ScanPolicy,
    *,
    osv_url: str | None = None,
    advisory_store: Path | None = None,
    image_packages: ImagePackages | None = None,
) -> list[Scanner]:
    """Every registered scanner (`sandbench.scanners` entry points: the built-ins, then
    any a registry installed), configured from the policy. `image_packages` (a container
    module's image, listed by the caller) is audited along with the module's requirements;
    the advisory database is chosen by `advisory_source` (flag, env, policy, local store).
    Raises `ScannerPluginError` when a registered scanner cannot be loaded (see `plugins`).
    """
    context = ScannerContext(policy, osv_url, advisory_store, image_packages)
    return load_scanners(context)


# Pure-Python readers of untrusted bytes: run in a child process killed at the deadline.
_READERS = (
    CapabilityScanner,
    CoverageScanner,
    LicenseScanner,
    MalwareScanner,
    ManifestLintScanner,
)
_GRACE_S = 5.0  # for a tool scanner to report after its tool was killed at the deadline


def scan_all(
    package: ModulePackage,
    scanners: Sequence[Scanner],
    policy: ScanPolicy | None = None,
    baseline: frozenset[str] = frozenset(),
    today: date | None = None,
    deadline: float | None = None,
) -> ScanReport:
    """Run `scanners` concurrently over `package` and apply the policy's ignores and the baseline.

    Each scanner has `policy.scan_budget_s`, cut to `deadline` (a `time.monotonic()` value)
    when that comes first; a scanner still running then is skipped with the reason, and the
    tools and child process it started are killed (see `sandbench.scanners._support.bounded`; a
    third-party scanner running in a thread is abandoned, not killed). Never raises for a
    scanner's failure: that scanner's result is skipped, with the reason.
    """
    policy = policy or ScanPolicy()
    today = today or datetime.now(UTC).date()
    started = time.perf_counter()
    until = time.monotonic() + policy.scan_budget_s
    until = until if deadline is None else min(until, deadline)
    raw = _run_bounded(package, scanners, until)
    results: list[ScanResult] = []
    suppressed: list[Suppressed] = []
    for result in raw:
        kept, gone = apply_suppressions(result.findings, policy.ignore, baseline, today)
        results.append(result.model_copy(update={"findings": kept}))
        suppressed += gone
    return ScanReport(
        module_id=package.manifest.module_id,
        version=package.manifest.version,
        results=tuple(results),
        suppressed=tuple(suppressed),
        expired_ignores=tuple(i for i in policy.ignore if not i.active(today)),
        fail_on=policy.fail_on,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        scanned_at=datetime.now(UTC),
    )


class BackgroundScan:
    """`scan_all` in a thread of its own, for a caller with other work meanwhile (the gate
    loads and calls the module while its scans run).

    Use it as a context manager: `result()` waits for the report (and re-raises what
    `scan_all` raised); leaving the block early (an error, Ctrl-C, SIGTERM) kills the
    scan's tools and child first, then waits for the thread, so nothing outlives the block.
    """

    def __init__(
        self,
        package: ModulePackage,
        scanners: Sequence[Scanner],
        policy: ScanPolicy | None = None,
        deadline: float | None = None,
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scan-all")
        self._future = self._pool.submit(scan_all, package, scanners, policy, deadline=deadline)

    def result(self) -> ScanReport:
        """The scan's report, once every scanner finished or ran out of budget."""
        return self._future.result()

    def __enter__(self) -> BackgroundScan:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            cancel_all()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _run_bounded(
    package: ModulePackage, scanners: Sequence[Scanner], until: float
) -> list[ScanResult]:
    """Every scanner's result in order, a late or lost one replaced by a skipped result."""
    budget = max(0.0, until - time.monotonic())
    late = (
        f"did not finish within its time budget of {budget:.1f} s "
        "(policy scan_budget_s, or the gate's deadline): not done"
    )
    readers = [i for i, s in enumerate(scanners) if isinstance(s, _READERS)]
    others = [i for i in range(len(scanners)) if i not in readers]
    pool = ThreadPoolExecutor(max_workers=len(others) + 1, thread_name_prefix="scan")
    futures: dict[int, Future[ScanResult]] = {}
    try:
        futures = {i: pool.submit(_in_thread, scanners[i], package, until) for i in others}
        isolated = pool.submit(run_isolated, [scanners[i] for i in readers], package, until)
        done = {i: f.result() for i, f in futures.items() if _finished(f, until)}
        done |= {readers[j]: result for j, result in isolated.result().items()}
    except BaseException:
        cancel_all()  # interrupted: no tool or child outlives the scan
        raise
    finally:
        # Join the threads when every one is done (tools and child are dead by now); only a
        # third-party scanner still running in its thread is left behind, never waited for.
        pool.shutdown(wait=all(f.done() for f in futures.values()), cancel_futures=True)
    return [_or_late(done.get(i), s, late, until) for i, s in enumerate(scanners)]


def _in_thread(scanner: Scanner, package: ModulePackage, until: float) -> ScanResult:
    with deadline(until):
        return timed(scanner, package)


def _finished(future: Future[ScanResult], until: float) -> bool:
    wait([future], timeout=max(0.0, until - time.monotonic()) + _GRACE_S)
    return future.done()


def _or_late(result: ScanResult | None, scanner: Scanner, late: str, until: float) -> ScanResult:
    if result is None:
        return ScanResult(scanner=scanner.name, skipped_reason=late)
    if result.skipped_reason is not None and time.monotonic() >= until:
        return result.model_copy(update={"skipped_reason": f"{late}: {result.skipped_reason}"})
    return result
