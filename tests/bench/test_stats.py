"""Summaries, load-time measurement and probes over the fake backend."""

from __future__ import annotations

import pytest

from sandbench.bench import measure_load, percentile, probe, summarize
from sandbench.sandbox import (
    FakeBackend,
    Grants,
    Outcome,
    Request,
    Response,
    SandboxLimits,
    Usage,
    Violation,
    ViolationKind,
)


def test_summary_of_a_known_sample():
    stats = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (stats.n, stats.median, stats.mean, stats.min, stats.max) == (5, 3.0, 3.0, 1.0, 5.0)
    assert stats.p95 == 5.0
    assert stats.stdev == pytest.approx(1.5811, abs=1e-4)


def test_percentile_nearest_rank():
    ordered = list(range(1, 101))
    assert [percentile(ordered, q) for q in (50, 95, 99, 100)] == [50, 95, 99, 100]


def test_empty_samples_are_refused():
    with pytest.raises(ValueError, match="no samples"):
        summarize([])


OK = Outcome(response=Response(status=200), usage=Usage(wall_ms=2.0, cpu_ms=1.0))
BAD = Outcome(violation=Violation(kind=ViolationKind.CPU, message="x"), usage=Usage(wall_ms=9.0))


def test_measure_load_loads_cold_then_warm(tmp_path):
    fake = FakeBackend([OK])
    result, times = measure_load(fake, None, SandboxLimits(), Grants(), warm_runs=3)
    assert len(fake.loads) == 4
    assert times.warm.n == 3
    assert times.cache_hit
    assert [i.closed for i in fake.instances] == [True, True, True, False]
    assert result.instance is fake.instances[-1]


def test_measure_load_stops_at_a_failed_cold_load():
    fake = FakeBackend(load_violation=Violation(kind=ViolationKind.UNKNOWN_IMPORT, message="x"))
    result, times = measure_load(fake, None, SandboxLimits(), Grants())
    assert len(fake.loads) == 1
    assert times.warm is None
    assert result.violation.kind is ViolationKind.UNKNOWN_IMPORT


def test_probe_stops_at_the_first_violation_unless_told_otherwise():
    fake = FakeBackend([OK, BAD, OK])
    instance = fake.load(None, SandboxLimits(), Grants()).instance
    assert len(probe(instance, Request(), count=5).outcomes) == 2
    full = probe(
        fake.load(None, SandboxLimits(), Grants()).instance,
        Request(),
        count=5,
        stop_on_violation=False,
    )
    assert len(full.outcomes) == 5
    assert full.violations == 1
    assert full.latency_ms.max == 9.0
