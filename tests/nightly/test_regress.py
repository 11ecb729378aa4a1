"""Regressions: statuses, findings, and performance steps judged over the history."""
# ruff: noqa: S311 - seeded pseudo-random samples, not secrets

from __future__ import annotations

import math
import random

from sandbench.nightly import (
    CellStatus,
    Thresholds,
    detect,
    judge_series,
    judged_metrics,
    night_value,
    open_store,
)
from sandbench.nightly.models import Pairing

from .conftest import result


def lognormal(rng, n, scale=1.0, sigma=0.35):
    # latency-like: skewed with a tail, as the health-call samples are
    return [scale * rng.lognormvariate(0, sigma) for _ in range(n)]


def nights(rng, count, step_at=None, step=1.0, noise=0.03):
    """Nightly log ratios: noise around 0, plus log(step) from `step_at` on."""
    return [
        rng.gauss(0, noise) + (math.log(step) if step_at is not None and i >= step_at else 0)
        for i in range(count)
    ]


RUNS = [f"2026-01-{i + 1:02d}" for i in range(30)]


def test_a_step_that_persists_two_nights_alarms_and_names_its_night():
    caught = covered = 0
    for seed in range(20):
        series = nights(random.Random(seed), 22, step_at=20, step=1.2)
        judgement = judge_series(RUNS[:22], series, "health.latency_ms")
        if judgement is not None and judgement.regressed:
            caught += 1
            assert judgement.change_run == RUNS[20]
            assert judgement.nights_after == 2
            covered += judgement.step_low < 1.2 < judgement.step_high
    assert caught >= 18
    assert covered >= caught - 2  # a 95 % interval


def test_a_step_alarms_only_when_every_night_since_is_above_with_its_interval():
    # tight nights (paired blocks): the estimates step x1.2 from night 20
    series = nights(random.Random(4), 22, step_at=20, step=1.2, noise=0.01)
    tight = [v - 0.02 for v in series]  # each night's interval: about +-2 %
    judgement = judge_series(RUNS[:22], series, "health.cpu_ms", lows=tight)
    assert judgement is not None
    assert judgement.regressed
    assert judgement.change_run == RUNS[20]
    # the same estimates, but the step's second night was too noisy to tell (its interval
    # reaches below the nights before): no alarm on that night
    wide = [*tight[:21], series[21] - 0.3]
    judgement = judge_series(RUNS[:22], series, "health.cpu_ms", lows=wide)
    assert judgement is not None
    assert not judgement.regressed


def test_one_noisy_night_does_not_alarm_tonight_or_tomorrow():
    for seed in range(20):
        series = nights(random.Random(seed), 21)
        series[19] += math.log(1.5)  # a neighbour's burst made one night 50 % slower
        for end in (20, 21):
            judgement = judge_series(RUNS[:end], series[:end], "health.latency_ms")
            assert judgement is None or not judgement.regressed, (seed, end, judgement)


def test_stationary_history_alarms_at_most_one_percent():
    alarms = trials = 0
    for seed in range(100):
        series = nights(random.Random(1000 + seed), 20, noise=0.05)
        judgement = judge_series(RUNS[:20], series, "health.latency_ms")
        alarms += judgement is not None and judgement.regressed
        trials += 1
    assert alarms / trials <= 0.01


def test_an_old_step_is_known_not_news():
    series = nights(random.Random(4), 20, step_at=10, step=1.5)
    judgement = judge_series(RUNS[:20], series, "health.latency_ms")
    assert judgement is not None
    assert judgement.change_run == RUNS[10]
    assert judgement.nights_after == 10
    assert not judgement.regressed


def paired(run_id, night, rng, scale=1.0, metric="health.latency_ms", module="m"):
    """A night of interleaved baseline and candidate samples sharing the night's speed."""
    speed = rng.choice([1.0, 1.6])  # some nights a neighbour slows both sides alike
    base = lognormal(rng, 40, speed, 0.2)
    new = lognormal(rng, 40, speed * scale, 0.2)
    r = result(run_id, module, night=night)
    return r.model_copy(update={"samples": {metric: new, f"baseline:{metric}": base}})


def test_a_paired_night_is_the_ratio_to_its_baseline_whatever_the_night_speed():
    covered = 0
    for seed in range(100):
        value = night_value(paired("n", 0, random.Random(seed), 1.2), "health.latency_ms")
        assert value is not None
        assert value.paired
        covered += math.exp(value.interval.low) <= 1.2 <= math.exp(value.interval.high)
    assert covered >= 88  # a 95 % interval, over 100 seeds


def test_a_night_with_enough_rounds_is_the_paired_rounds_ratio():
    # every round's candidate run is 10 % above the baseline run beside it, whatever the
    # run's own level (runs of one module differ by tens of per cent)
    levels = [1.0, 1.5, 0.7, 1.2, 0.9, 1.4, 0.8, 1.1]
    r = paired("n", 0, random.Random(3)).model_copy(
        update={"round_medians": {"health.latency_ms": [(1.1 * v, v) for v in levels]}}
    )
    value = night_value(r, "health.latency_ms")
    assert value is not None
    assert value.paired
    assert math.isclose(math.exp(value.value), 1.1)
    assert math.isclose(math.exp(value.interval.low), 1.1)
    assert math.isclose(math.exp(value.interval.high), 1.1)
    # fewer rounds than min_pairs: the pooled samples' shift, as before
    few = r.model_copy(update={"round_medians": {"health.latency_ms": [(1.1, 1.0)] * 5}})
    assert night_value(few, "health.latency_ms") == night_value(
        r.model_copy(update={"round_medians": {}}), "health.latency_ms"
    )


def test_unpaired_nights_are_judged_on_the_log_median():
    value = night_value(result("n", samples=[1.0, 2.0, 3.0, 4.0, 5.0]), "health.latency_ms")
    assert value is not None
    assert not value.paired
    assert value.value == math.log(3.0)
    assert night_value(result("n", samples=[1.0] * 4), "health.latency_ms") is None


def test_detect_names_the_metric_the_night_and_the_step_with_its_interval(sqlite_store):
    rng = random.Random(11)
    for night in range(16):
        scale = 1.3 if night >= 14 else 1.0
        sqlite_store.record(paired(f"n{night:02d}", night, rng, scale, "health.cpu_ms"))
    found = detect(sqlite_store, "n15")
    assert [(r.kind, r.metric) for r in found] == [("performance", "health.cpu_ms")]
    j = found[0].judgement
    assert j.change_run == "n14"
    assert j.paired
    assert j.step_low < 1.3 < j.step_high
    assert j.night_low < 1.3 < j.night_high
    assert "CPU time per call" in found[0].message
    assert "from night n14" in found[0].message
    assert detect(sqlite_store, "n13") == []


def test_an_alarm_says_how_its_night_was_paired(sqlite_store):
    rng = random.Random(11)
    pairing = Pairing(unit="block", pairs=24, calls=8, stopped="precise",
                      cpu="thread CPU per call, block median")  # fmt: skip
    for night in range(16):
        scale = 1.3 if night >= 14 else 1.0
        r = paired(f"n{night:02d}", night, rng, scale, "health.cpu_ms")
        sqlite_store.record(r.model_copy(update={"pairing": pairing}))
    (found,) = detect(sqlite_store, "n15")
    assert found.judgement.night_pairing.startswith("24 blocks of 8 alternated calls a side")
    assert found.message.endswith(
        " over 24 blocks of 8 alternated calls a side, thread CPU per call, block median"
    )


def wasm_night(run_id, night, rng, cpu_scale=1.0, latency_scale=1.0):
    """A WASM cell's paired night: CPU and latency samples, judged on CPU time per call."""
    r = paired(run_id, night, rng, latency_scale)
    cpu = paired(run_id, night, rng, cpu_scale, "health.cpu_ms")
    return r.model_copy(update={"samples": r.samples | cpu.samples, "primary": "health.cpu_ms"})


def test_a_wasm_cell_alarms_on_cpu_time_not_on_its_wall_clock(sqlite_store, tmp_path):
    rng = random.Random(5)
    for night in range(16):  # the wall clock steps x1.5 (a busy machine), CPU time does not
        sqlite_store.record(wasm_night(f"n{night:02d}", night, rng, 1.0, 1.5 if night >= 14 else 1))
    assert detect(sqlite_store, "n15") == []
    with open_store(tmp_path / "cpu.db") as store:
        for night in range(16):  # CPU time per call steps x1.3: the alarm names it
            store.record(wasm_night(f"n{night:02d}", night, rng, 1.3 if night >= 14 else 1))
        found = detect(store, "n15")
    assert [(r.metric, r.judgement.change_run) for r in found] == [("health.cpu_ms", "n14")]
    assert found[0].message.startswith("health.cpu_ms (CPU time per call) stepped x1.")


def test_the_judged_metrics_of_a_cell():
    both = {"health.latency_ms": [1.0], "health.cpu_ms": [1.0], "load.cold_ms": [1.0]}
    cell = result("n").model_copy(update={"samples": both, "primary": "health.cpu_ms"})
    assert judged_metrics(cell) == ["health.cpu_ms", "load.cold_ms"]
    container = cell.model_copy(update={"primary": "health.latency_ms"})
    assert judged_metrics(container) == ["health.latency_ms", "load.cold_ms"]
    older = cell.model_copy(update={"primary": ""})  # a history from before `primary`
    assert judged_metrics(older) == ["health.cpu_ms", "health.latency_ms", "load.cold_ms"]


def test_status_worse_and_new_finding_are_regressions(sqlite_store):
    sqlite_store.record(result("n0", "a", findings=("f1",), night=0))
    sqlite_store.record(result("n0", "b", night=0))
    sqlite_store.record(result("n1", "a", findings=("f1", "f2"), night=1))
    sqlite_store.record(result("n1", "b", status=CellStatus.TIMEOUT, night=1))
    found = {(r.module, r.kind): r for r in detect(sqlite_store, "n1")}
    assert set(found) == {("a", "finding"), ("b", "status")}
    assert found[("b", "status")].message == "healthy -> timeout: why"
    assert "new high finding r/1: f2" in found[("a", "finding")].message


def test_a_better_night_or_a_first_night_raises_nothing(sqlite_store):
    rng = random.Random(2)
    sqlite_store.record(result("n0", status=CellStatus.CRITICAL, samples=lognormal(rng, 30, 2.0)))
    assert detect(sqlite_store, "n0") == []
    sqlite_store.record(result("n1", samples=lognormal(rng, 30), night=1))
    assert detect(sqlite_store, "n1") == []
    assert detect(sqlite_store, "never") == []


def test_only_the_lookback_window_of_earlier_runs_is_searched(sqlite_store):
    sqlite_store.record(result("old", "a", night=0))
    for night in range(1, 4):
        sqlite_store.record(result(f"n{night}", "other", night=night))
    sqlite_store.record(result("new", "a", status=CellStatus.CRITICAL, night=5))
    assert [r.kind for r in detect(sqlite_store, "new", Thresholds(lookback=4))] == ["status"]
    assert detect(sqlite_store, "new", Thresholds(lookback=3)) == []
