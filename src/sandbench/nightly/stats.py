"""The statistics of the nightly rule: a rank-based shift with its interval, E-divisive means.

- `shift`: the Hodges-Lehmann estimate of how much larger `new` is than `base` (the median
  of every pairwise difference) with the distribution-free (Moses) confidence interval from
  the Mann-Whitney statistic's normal approximation. On log samples it is a ratio.
- `paired_shift`: the one-sample Hodges-Lehmann estimate of paired differences (the median
  of their Walsh averages) with the Wilcoxon signed-rank (Tukey) interval: for a night's
  rounds, each round's candidate against the baseline run beside it.
- `e_divisive`: change points of a series by E-divisive means (Matteson & James, 2014,
  "A nonparametric approach for multiple change point analysis of multivariate data"):
  the split maximising the scaled energy distance between the two sides, found
  hierarchically, each kept only when a permutation test says it is significant.

Pure functions, seeded: the same data give the same answer. No timing, no I/O.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from statistics import NormalDist

from pydantic import BaseModel, ConfigDict

__all__ = [
    "ChangePoint",
    "Shift",
    "e_divisive",
    "log_shift",
    "median_interval",
    "paired_shift",
    "shift",
    "split_statistic",
    "step_interval",
    "t_quantile",
]


class Shift(BaseModel):
    """How much larger one sample is than another, with a two-sided interval.

    `low`/`high` are -inf/+inf when the samples are too small for the confidence asked.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    estimate: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        """Half the interval's width (inf when it is unbounded)."""
        return (self.high - self.low) / 2


class ChangePoint(BaseModel):
    """A change point: the series' values from `index` on differ from those before it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int
    statistic: float
    p_value: float


def shift(base: Sequence[float], new: Sequence[float], confidence: float = 0.95) -> Shift:
    """Hodges-Lehmann shift of `new` over `base` with its rank-based (Moses) interval.

    Raises `ValueError` when either sample is empty.
    """
    if not base or not new:
        raise ValueError("shift needs two non-empty samples")
    diffs = sorted(b2 - b1 for b1 in base for b2 in new)
    total = len(diffs)
    mid = total // 2
    estimate = diffs[mid] if total % 2 else (diffs[mid - 1] + diffs[mid]) / 2
    m, n = len(base), len(new)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    # the number of pairwise differences cut off each end (1-based rank of the bound)
    cut = math.floor(total / 2 - z * math.sqrt(m * n * (m + n + 1) / 12))
    if cut < 1:
        return Shift(estimate=estimate, low=-math.inf, high=math.inf)
    return Shift(estimate=estimate, low=diffs[cut - 1], high=diffs[total - cut])


def paired_shift(diffs: Sequence[float], confidence: float = 0.95) -> Shift:
    """Hodges-Lehmann estimate of the centre of paired differences (the median of the Walsh
    averages (d_i + d_j) / 2, i <= j) with the signed-rank interval from the normal
    approximation; unbounded below about 6 pairs at 95 %. Raises `ValueError` when empty.
    """
    n = len(diffs)
    if n == 0:
        raise ValueError("paired_shift needs at least one difference")
    walsh = sorted((diffs[i] + diffs[j]) / 2 for i in range(n) for j in range(i, n))
    total = len(walsh)
    mid = total // 2
    estimate = walsh[mid] if total % 2 else (walsh[mid - 1] + walsh[mid]) / 2
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    cut = math.floor(total / 2 - z * math.sqrt(n * (n + 1) * (2 * n + 1) / 24))
    if cut < 1:
        return Shift(estimate=estimate, low=-math.inf, high=math.inf)
    return Shift(estimate=estimate, low=walsh[cut - 1], high=walsh[total - cut])


def log_shift(base: Sequence[float], new: Sequence[float], confidence: float = 0.95) -> Shift:
    """`shift` of the logarithms: exp(estimate) is a ratio new/base. Needs positive samples
    (raises `ValueError` otherwise)."""
    if min(base, default=0.0) <= 0 or min(new, default=0.0) <= 0:
        raise ValueError("log_shift needs positive samples")
    return shift([math.log(v) for v in base], [math.log(v) for v in new], confidence)


def split_statistic(values: Sequence[float], min_size: int = 2) -> tuple[int, float]:
    """The split index maximising Q (the scaled energy distance, exponent 1) and its Q.

    Q(t) = m*k/(m+k) * (2/(m*k) * sum|x-y| - sum|x-x'|/C(m,2) - sum|y-y'|/C(k,2)) for the
    left part x (m values) and the right part y (k values), each side at least `min_size`.
    Returns (0, 0.0) when the series is too short. O(n^2).
    """
    n = len(values)
    if n < 2 * min_size:
        return 0, 0.0
    dist = [[abs(a - b) for b in values] for a in values]
    within_left, cross = 0.0, 0.0
    within_right = sum(sum(row[i + 1 :]) for i, row in enumerate(dist))
    best, best_q = 0, -math.inf
    for t in range(n - 1):  # move value t from the right part to the left part
        to_left = sum(dist[t][:t])
        to_right = sum(dist[t][t + 1 :])
        within_left += to_left
        within_right -= to_right
        cross += to_right - to_left
        m, k = t + 1, n - t - 1
        if m < min_size or k < min_size:
            continue
        energy = 2 * cross / (m * k) - within_left / (m * (m - 1) / 2)
        energy -= within_right / (k * (k - 1) / 2)
        q = m * k / (m + k) * energy
        if q > best_q:
            best, best_q = m, q
    return best, best_q


def _significance(values: list[float], observed: float, permutations: int, seed: int) -> float:
    """Permutation p-value of `observed` (the max Q) under exchangeability of `values`."""
    rng = random.Random(seed)  # noqa: S311 - a permutation test, not secrets; seeded
    shuffled = list(values)
    above = 0
    for _ in range(permutations):
        rng.shuffle(shuffled)
        if split_statistic(shuffled)[1] >= observed - 1e-12:
            above += 1
    return (above + 1) / (permutations + 1)


def e_divisive(
    series: Sequence[float],
    *,
    alpha: float = 0.05,
    permutations: int = 99,
    min_size: int = 2,
    seed: int = 0,
) -> list[ChangePoint]:
    """Change points of `series`, in index order (hierarchical E-divisive means).

    Each round takes the segment whose best split has the largest Q, tests that split by
    permuting the segment's values (`permutations` times, seeded) and keeps it when
    p < `alpha`; the first split that fails ends the search. A change point's `index` is
    the first value of the new segment.
    """
    values = list(series)
    segments = [(0, len(values))]
    found: list[ChangePoint] = []
    tested: set[tuple[int, int]] = set()
    while True:
        candidates = []
        for start, end in segments:
            index, q = split_statistic(values[start:end], min_size)
            if index:
                candidates.append((q, start, end, start + index))
        candidates = [c for c in candidates if (c[1], c[2]) not in tested]
        if not candidates:
            break
        q, start, end, index = max(candidates)
        tested.add((start, end))
        p = _significance(values[start:end], q, permutations, seed + start * 1009 + end)
        if p >= alpha:
            break
        found.append(ChangePoint(index=index, statistic=q, p_value=p))
        segments.remove((start, end))
        segments += [(start, index), (index, end)]
    return sorted(found, key=lambda c: c.index)


def median_interval(values: Sequence[float], confidence: float = 0.95) -> Shift:
    """The median of `values` with its distribution-free (order statistic) interval.

    Raises `ValueError` for an empty sample; the bounds are infinite when it is too small.
    """
    if not values:
        raise ValueError("median_interval needs a non-empty sample")
    ordered = sorted(values)
    n = len(ordered)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    reach = math.ceil(z * math.sqrt(n) / 2)
    low, high = (n - 1) // 2 - reach, n // 2 + reach
    median = (ordered[(n - 1) // 2] + ordered[n // 2]) / 2
    if low < 0 or high >= n:
        return Shift(estimate=median, low=-math.inf, high=math.inf)
    return Shift(estimate=median, low=ordered[low], high=ordered[high])


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile by the Cornish-Fisher expansion around the normal (good to about
    1 % at df >= 3; the normal quantile itself for large df)."""
    z = NormalDist().inv_cdf(p)
    terms = (
        (z**3 + z) / 4,
        (5 * z**5 + 16 * z**3 + 3 * z) / 96,
        (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
    )
    return float(z + sum(term / df ** (i + 1) for i, term in enumerate(terms)))


def step_interval(
    before: Sequence[float], after: Sequence[float], confidence: float = 0.95
) -> Shift:
    """A step between two parts of a series: median(after) - median(before), with an interval
    whose noise scale is the before part's robust spread (1.4826 x its median absolute
    deviation, so one outlying night does not widen it) and t quantiles for its size.

    Unbounded when `before` has fewer than 4 values. Raises `ValueError` for an empty part.
    """
    if not before or not after:
        raise ValueError("step_interval needs two non-empty parts")
    centre = statistics.median(before)
    estimate = statistics.median(after) - centre
    if len(before) < 4:
        return Shift(estimate=estimate, low=-math.inf, high=math.inf)
    spread = 1.4826 * statistics.median(abs(v - centre) for v in before)
    # a median's variance is about pi/2 times a mean's (normal noise); of 2 values it is one
    after_factor = 1.0 if len(after) <= 2 else math.pi / 2
    error = spread * math.sqrt(after_factor / len(after) + math.pi / 2 / len(before))
    reach = t_quantile(0.5 + confidence / 2, len(before) - 1) * error
    return Shift(estimate=estimate, low=estimate - reach, high=estimate + reach)
