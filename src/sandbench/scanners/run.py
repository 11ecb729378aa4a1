"""Running every scanner over one module, concurrently, and applying suppressions once.

bandit and pip-audit are subprocesses and the in-process scanners are short, so one
thread per scanner lets the scan take about as long as its slowest scanner
(benchmarks/test_scan_speed.py measures it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from sandbench.manifests import ModulePackage

from .advisories import advisory_source
from .bandit import BanditScanner
from .capabilities import CapabilityScanner
from .coverage import CoverageScanner
from .interface import Finding, Scanner, ScanResult, Severity
from .licenses import LicenseScanner
from .malware import MalwareScanner
from .manifest_lint import ManifestLintScanner
from .pip_audit import ImagePackages, PipAuditScanner
from .policy import Ignore, ScanPolicy, Suppressed, apply_suppressions

__all__ = ["ScanReport", "default_scanners", "scan_all"]


class ScanReport(BaseModel):
    """Every scanner's result for one module, after suppressions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
    """The built-in scanners, configured from the policy. `image_packages` (a container
    module's image, listed by the caller) is audited along with the module's requirements;
    the advisory database is chosen by `advisory_source` (flag, env, policy, local store).
    """
    source = advisory_source(osv_url, advisory_store, policy.osv_url)
    return [
        BanditScanner(skips=policy.bandit_skips),
        PipAuditScanner(
            osv_url=source.osv_url,
            store=source.store,
            max_age_days=policy.max_advisory_age_days,
            image_packages=image_packages,
        ),
        LicenseScanner(policy.licenses),
        CapabilityScanner(),
        ManifestLintScanner(policy.ceilings),
        MalwareScanner(),
        CoverageScanner(),
    ]


def _timed(scanner: Scanner, package: ModulePackage) -> ScanResult:
    started = time.perf_counter()
    try:
        result = scanner.scan(package)
    except Exception as exc:  # a scanner bug must not hide the others' results
        result = ScanResult(scanner=scanner.name, skipped_reason=f"{type(exc).__name__}: {exc}")
    elapsed = (time.perf_counter() - started) * 1000
    return result.model_copy(update={"elapsed_ms": elapsed})


def scan_all(
    package: ModulePackage,
    scanners: Sequence[Scanner],
    policy: ScanPolicy | None = None,
    baseline: frozenset[str] = frozenset(),
    today: date | None = None,
) -> ScanReport:
    """Run `scanners` concurrently over `package` and apply the policy's ignores and the baseline.

    Never raises for a scanner's failure: that scanner's result is skipped, with the reason.
    """
    policy = policy or ScanPolicy()
    today = today or datetime.now(UTC).date()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, len(scanners)), thread_name_prefix="scan") as pool:
        raw = list(pool.map(lambda s: _timed(s, package), scanners))
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
