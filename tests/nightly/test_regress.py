"""Regressions: statuses, findings, and performance judged on samples."""
# ruff: noqa: S311 - seeded pseudo-random samples, not secrets

from __future__ import annotations

import random

import pytest

from sandbench.nightly import CellStatus, Thresholds, compare, detect
from sandbench.nightly.regress import mann_whitney_greater

from .conftest import result


def lognormal(rng, n, scale=1.0):
    # latency-like: skewed with a tail, as the health-call samples are
    return [scale * rng.lognormvariate(0, 0.35) for _ in range(n)]


def test_the_rank_test_separates_shifted_samples_and_not_equal_ones():
    assert mann_whitney_greater([1, 2, 3, 4, 5, 6], [11, 12, 13, 14, 15, 16]) < 0.005
    assert mann_whitney_greater([11, 12, 13, 14, 15, 16], [1, 2, 3, 4, 5, 6]) > 0.99
    assert 0.3 < mann_whitney_greater([1, 2, 3, 4] * 3, [1, 2, 3, 4] * 3) < 0.7
    assert mann_whitney_greater([5.0] * 8, [5.0] * 8) == 1.0  # all tied: no evidence


def test_a_significant_but_tiny_shift_is_not_a_regression():
    base = [100 + i * 0.01 for i in range(200)]
    new = [v * 1.03 for v in base]
    judgement = compare([base], new)
    assert judgement.p_value < 0.01
    assert not judgement.regressed  # 3 % is below the 10 % effect floor


def test_synthetic_a_a_rarely_alarms_and_a_20_percent_slowdown_is_found():
    rng = random.Random(7)
    trials = 300

    def nights():
        return [lognormal(rng, 30) for _ in range(3)]

    false_alarms = sum(compare(nights(), lognormal(rng, 30)).regressed for _ in range(trials))
    detected = sum(compare(nights(), lognormal(rng, 30, 1.2)).regressed for _ in range(trials))
    assert false_alarms / trials <= 0.01
    assert detected / trials >= 0.3


def test_a_night_slower_as_a_whole_within_the_baseline_envelope_is_not_a_regression():
    rng = random.Random(3)
    # a noisy neighbour made one baseline night 50 % slower; a new night like it is no news
    nights = [lognormal(rng, 60), lognormal(rng, 60, 1.5), lognormal(rng, 60)]
    judgement = compare(nights, lognormal(rng, 60, 1.5))
    assert judgement.p_value < 0.01  # the rank test alone would have raised an alarm
    assert not judgement.regressed


def test_status_worse_new_finding_and_slower_samples_are_regressions(sqlite_store):
    rng = random.Random(1)
    for night in range(3):
        sqlite_store.record(
            result(f"n{night}", "a", samples=lognormal(rng, 30), findings=("f1",), night=night)
        )
        sqlite_store.record(result(f"n{night}", "b", samples=lognormal(rng, 30), night=night))
    sqlite_store.record(
        result("n3", "a", samples=lognormal(rng, 30, 1.6), findings=("f1", "f2"), night=3)
    )
    sqlite_store.record(result("n3", "b", status=CellStatus.TIMEOUT, night=3))
    found = {(r.module, r.kind): r for r in detect(sqlite_store, "n3")}
    assert set(found) == {("a", "performance"), ("a", "finding"), ("b", "status")}
    assert found[("b", "status")].message == "healthy -> timeout: why"
    assert "new high finding r/1: f2" in found[("a", "finding")].message
    perf = found[("a", "performance")]
    assert perf.metric == "health.latency_ms"
    assert perf.judgement.ratio > 1.3
    assert perf.judgement.floor_ratio > 1.1
    assert perf.judgement.ci_low > 1.0


def test_a_better_night_or_a_first_night_raises_nothing(sqlite_store):
    rng = random.Random(2)
    sqlite_store.record(result("n0", status=CellStatus.CRITICAL, samples=lognormal(rng, 30, 2.0)))
    assert detect(sqlite_store, "n0") == []
    sqlite_store.record(result("n1", samples=lognormal(rng, 30), night=1))
    assert detect(sqlite_store, "n1") == []
    assert detect(sqlite_store, "never") == []


@pytest.mark.parametrize("n", [2, 4])
def test_too_few_samples_are_never_judged(n):
    assert not compare([[1.0] * n, [1.0] * n], [100.0] * n, Thresholds()).regressed


def test_one_baseline_night_is_not_enough_to_judge_a_metric():
    nights = [[1.0 + i / 100 for i in range(30)]]
    assert not compare(nights, [2.0] * 30).regressed
    assert compare(nights * 2, [2.0] * 30).regressed


def test_only_the_lookback_window_of_earlier_runs_is_searched(sqlite_store):
    sqlite_store.record(result("old", "a", night=0))
    for night in range(1, 4):
        sqlite_store.record(result(f"n{night}", "other", night=night))
    sqlite_store.record(result("new", "a", status=CellStatus.CRITICAL, night=5))
    assert [r.kind for r in detect(sqlite_store, "new", Thresholds(lookback=4))] == ["status"]
    assert detect(sqlite_store, "new", Thresholds(lookback=3)) == []
