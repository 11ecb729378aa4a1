"""The statistics under the nightly rule, on synthetic series with fixed seeds."""
# ruff: noqa: S311 - seeded pseudo-random samples, not secrets

from __future__ import annotations

import math
import random

import pytest

from sandbench.nightly.stats import (
    e_divisive,
    log_shift,
    median_interval,
    paired_shift,
    shift,
    split_statistic,
)


def test_e_divisive_finds_a_planted_step_at_its_index():
    for seed in range(10):
        rng = random.Random(seed)
        series = [rng.gauss(0, 0.3) for _ in range(15)] + [rng.gauss(3, 0.3) for _ in range(10)]
        points = e_divisive(series, alpha=0.01, permutations=199, seed=seed)
        assert [p.index for p in points] == [15], seed
        assert points[0].p_value < 0.01


def test_e_divisive_finds_two_steps():
    rng = random.Random(3)
    series = [rng.gauss(m, 0.5) for m in [0] * 10 + [4] * 10 + [1] * 10]
    assert [p.index for p in e_divisive(series)] == [10, 20]


def test_e_divisive_on_stationary_noise_keeps_the_stated_false_alarm_rate():
    alpha, seeds = 0.05, 200
    alarms = sum(
        bool(e_divisive([random.Random(s).gauss(0, 1) for _ in range(20)], alpha=alpha, seed=s))
        for s in range(seeds)
    )
    # the first split is tested at level alpha; over 200 seeds the count is about 10 +- 3
    assert alarms <= 2 * alpha * seeds


def test_the_split_statistic_needs_min_size_on_each_side():
    assert split_statistic([1.0, 2.0, 3.0], min_size=2) == (0, 0.0)
    index, q = split_statistic([0.0, 0.0, 5.0, 5.0], min_size=2)
    assert (index, q) == (2, pytest.approx(10.0))


def test_the_shift_interval_covers_the_true_ratio_in_most_seeds():
    covered = 0
    for seed in range(200):
        rng = random.Random(seed)
        base = [rng.lognormvariate(0, 0.3) for _ in range(30)]
        new = [1.2 * rng.lognormvariate(0, 0.3) for _ in range(30)]
        s = log_shift(base, new)
        covered += math.exp(s.low) <= 1.2 <= math.exp(s.high)
    assert covered >= 180  # a 95 % interval: about 190 of 200


def test_too_small_samples_give_an_unbounded_interval_and_bad_input_is_refused():
    assert shift([1.0, 2.0], [3.0]).low == -math.inf
    assert median_interval([1.0, 2.0, 3.0]).high == math.inf
    with pytest.raises(ValueError, match="non-empty"):
        shift([], [1.0])
    with pytest.raises(ValueError, match="positive"):
        log_shift([0.0, 1.0], [1.0, 2.0])


def test_the_median_interval_is_ordered_and_holds_the_median():
    rng = random.Random(9)
    values = [rng.random() for _ in range(101)]
    m = median_interval(values)
    assert m.low < m.estimate < m.high
    assert m.estimate == sorted(values)[50]


def test_paired_shift_known_answers():
    # 1..10: the Walsh averages are symmetric about 5.5; n = 10 cuts 8 from each end
    # (floor(27.5 - 1.96 * sqrt(96.25))), and the 8th smallest Walsh average is 3.0
    interval = paired_shift([float(v) for v in range(1, 11)])
    assert (interval.estimate, interval.low, interval.high) == (5.5, 3.0, 8.0)
    assert paired_shift([0.2, -0.1, 0.4]).half_width == math.inf  # 3 pairs: no 95 % interval
    assert paired_shift([1.0]).estimate == 1.0
    with pytest.raises(ValueError, match="at least one"):
        paired_shift([])


def test_paired_shift_covers_a_known_shift_on_seeded_pairs():
    covered = 0
    for seed in range(100):
        rng = random.Random(seed)
        interval = paired_shift([0.1 + rng.gauss(0, 0.05) for _ in range(8)])
        covered += interval.low <= 0.1 <= interval.high
    assert covered >= 90  # a 95 % interval over 100 seeds
