"""The full concurrent scan against the slowest scanner run alone, in the same run.

The baseline (`..._raw`, so the summary prints the ratio) is whichever built-in scanner
was slowest alone on the fixture module in this run (pip-audit, in practice: a
subprocess plus one loopback OSV query per dependency). The target is a full scan within
1.2x of it: the other scanners must hide behind it. `make bench` prints the ratio, and the
full scan without the malware scanner, in the same run, so that the malware scan's own
cost (GuardDog's rules and the AST rules) shows as the difference of the two ratios.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from sandbench.manifests import ModulePackage, load
from sandbench.scanners import Scanner, ScanPolicy, default_scanners, import_export, scan_all

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "assets" / "modules" / "pyapp"
OSV = ROOT / "tests" / "assets" / "osv"
ROUNDS = 7


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModulePackage, list[Scanner]]:
    store = tmp_path_factory.mktemp("bench-advisories") / "advisories.sqlite"
    import_export(OSV, store)
    return load(FIXTURE), default_scanners(ScanPolicy(), advisory_store=store)


@pytest.fixture(scope="module")
def slowest(setup: tuple[ModulePackage, list[Scanner]]) -> Scanner:
    package, scanners = setup

    def alone(scanner: Scanner) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            result = scanner.scan(package)
            times.append(time.perf_counter() - started)
            assert result.skipped_reason is None, result.skipped_reason
        return statistics.median(times)

    return max(scanners, key=alone)


def test_scan_slowest_scanner_alone_raw(benchmark, setup, slowest):
    benchmark.group = "scan-pyapp"
    benchmark.extra_info["scanner"] = slowest.name
    result = benchmark.pedantic(slowest.scan, args=(setup[0],), rounds=ROUNDS, warmup_rounds=1)
    assert result.skipped_reason is None


def test_scan_full_concurrent(benchmark, setup):
    benchmark.group = "scan-pyapp"
    package, scanners = setup
    report = benchmark.pedantic(scan_all, args=(package, scanners), rounds=ROUNDS, warmup_rounds=1)
    assert report.skipped == ()
    assert len(report.results) == len(scanners)


def test_scan_full_without_malware(benchmark, setup):
    benchmark.group = "scan-pyapp"
    package, scanners = setup
    others = [s for s in scanners if s.name != "malware"]
    report = benchmark.pedantic(scan_all, args=(package, others), rounds=ROUNDS, warmup_rounds=1)
    assert report.skipped == ()
    assert len(report.results) == len(scanners) - 1
