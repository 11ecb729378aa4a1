"""How the gate spends its time: the scans run beside loading and the health calls and end
before the load test, and a module whose health calls are past the critical latency is not
load-tested. Real scanners' seam (a scanner of our own), real wasmtime; the proofs are the
order of events and the report, never how long anything took."""

from __future__ import annotations

import struct
import threading

import sandbench
from sandbench.bench.smoke import TOO_SLOW
from sandbench.manifests import ModulePackage
from sandbench.reports import Status
from sandbench.scanners import ScanResult

from .conftest import EXAMPLES
from .sandbox import wat

# One relative monotonic-clock subscription of 700 ms (the critical latency is 500 ms).
SLEEP_700MS = wat.poll(struct.pack("<QB7xI4xQQH6x", 1, 0, 1, 700_000_000, 0, 0))
SLEEPY_LIMITS = {"memory": "16MiB", "cpu": "250m", "timeout": "5s"}


class _Rendezvous:
    """A scanner that finishes only once the gate's health calls have started."""

    name = "rendezvous"

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.health_calls = threading.Event()

    def progress(self, _done: int, _total: int, step: str) -> None:
        self.events.append(step)
        if step == "health calls":
            self.health_calls.set()

    def scan(self, package: ModulePackage) -> ScanResult:
        # Bounded: a gate that scanned before loading would leave this scanner "not done".
        if not self.health_calls.wait(timeout=25):
            return ScanResult(scanner=self.name, skipped_reason="the health calls never began")
        self.events.append("scan finished")
        return ScanResult(scanner=self.name)


def test_the_scans_run_beside_the_health_calls_and_end_before_the_load_test(backend):
    events: list[str] = []
    scanner = _Rendezvous(events)
    report = sandbench.gate(
        EXAMPLES / "hello", backend=backend, scanners=[scanner], progress=scanner.progress
    )
    ours = next(s for s in report.scans if s.scanner == "rendezvous")
    assert ours.skipped_reason is None
    order = [e for e in events if e in ("scanning", "health calls", "scan finished", "load test")]
    assert order == ["scanning", "health calls", "scan finished", "load test"]
    assert report.load_test is not None


def test_a_module_past_the_critical_latency_is_not_load_tested(backend, make_module):
    """Every health call sleeps 700 ms of its own time: critical on any machine, so the
    gate does not spend a load test (each request could take the whole timeout)."""
    root = make_module(SLEEP_700MS, limits=SLEEPY_LIMITS)
    report = sandbench.gate(root, backend=backend, scanners=())
    assert report.status is Status.CRITICAL
    latency = next(r for r in report.rules if r.rule == "latency-p95")
    assert latency.status is Status.CRITICAL
    assert report.load_test is None
    skipped = {s.check_id: s.reason for s in report.skipped}
    assert skipped["load-test"] == TOO_SLOW.format(ms=500)


def test_a_module_within_the_critical_latency_is_load_tested(backend, make_module):
    """The same module sleeping 50 ms a call is slow (degraded at most), not decided: the
    load test runs."""
    root = make_module(
        wat.poll(struct.pack("<QB7xI4xQQH6x", 1, 0, 1, 50_000_000, 0, 0)), limits=SLEEPY_LIMITS
    )
    report = sandbench.gate(root, backend=backend, scanners=())
    assert report.load_test is not None
    assert "load-test" not in {s.check_id for s in report.skipped}
