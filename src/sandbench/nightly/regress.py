"""Regressions between nights: a worse status, a new finding, a slower metric.

Performance is judged on the stored samples, never on one number. A metric regressed when
both hold:

1. a one-sided Mann-Whitney U test says the new night's samples are larger than the
   pooled samples of the last `baseline_runs` nights (p < `alpha`): within-night evidence,
   robust to the long tails of latency;
2. the new night's fast end (its 10th percentile) is at least `1 + min_effect` times the
   HIGHEST fast end among those baseline nights. On a shared machine, noise comes in
   night-sized bursts (a neighbour's build makes a whole night slower) and it only ever
   adds time; the fast end tracks the module's own cost, and clearing every baseline
   night's envelope means the change exceeds the night-to-night variation seen so far.

A metric is judged once `min_nights` baseline nights exist: one night's envelope says
nothing about night-to-night variation. The ratio of medians and a bootstrap 95 % interval are reported alongside. The false-alarm
and detection rates of this rule, measured on real runs, are in docs/nightly.md.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .models import CellResult
from .store import HistoryStore

__all__ = [
    "Judgement",
    "Regression",
    "Thresholds",
    "compare",
    "detect",
    "low_quantile",
    "mann_whitney_greater",
]


class Thresholds(BaseModel):
    """How sure and how large a slowdown must be to count."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = 0.01
    min_effect: float = 0.10
    baseline_runs: int = 3
    lookback: int = Field(default=10, description="how many earlier runs to search for them")
    min_samples: int = 5
    min_nights: int = Field(default=2, description="baseline nights needed to judge a metric")


class Judgement(BaseModel):
    """A metric's samples, new against baseline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ratio: float
    floor_ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    regressed: bool


class Regression(BaseModel):
    """Something that got worse in `run_id` against earlier nights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    module: str
    cell: str
    kind: Literal["status", "finding", "performance"]
    metric: str = ""
    message: str
    judgement: Judgement | None = None


def mann_whitney_greater(base: Sequence[float], new: Sequence[float]) -> float:
    """One-sided p-value that `new` tends to be larger than `base` (normal approximation,
    tie-corrected, with continuity correction)."""
    n1, n2 = len(base), len(new)
    pooled = sorted([(v, 0) for v in base] + [(v, 1) for v in new])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    rank_new = sum(r for r, (_, group) in zip(ranks, pooled, strict=True) if group == 1)
    u = rank_new - n2 * (n2 + 1) / 2
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 1.0
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(var)
    return 0.5 * math.erfc(z / math.sqrt(2))


def _median_ratio_ci(
    base: Sequence[float], new: Sequence[float], rounds: int = 400
) -> tuple[float, float]:
    """A 95 % percentile-bootstrap interval of median(new) / median(base), seeded."""
    rng = random.Random(len(base) * 7919 + len(new))  # noqa: S311 - resampling, not secrets; seeded: same data, same CI
    ratios = []
    for _ in range(rounds):
        b = statistics.median(rng.choices(base, k=len(base)))
        n = statistics.median(rng.choices(new, k=len(new)))
        if b > 0:
            ratios.append(n / b)
    ratios.sort()
    if not ratios:
        return (math.nan, math.nan)
    return ratios[int(0.025 * len(ratios))], ratios[int(0.975 * len(ratios)) - 1]


def low_quantile(samples: Sequence[float], q: float = 0.1) -> float:
    """The `q` quantile (nearest rank below) of `samples`."""
    ordered = sorted(samples)
    return ordered[int(q * (len(ordered) - 1))]


def compare(
    nights: Sequence[Sequence[float]], new: Sequence[float], thresholds: Thresholds | None = None
) -> Judgement:
    """Judge `new` against baseline `nights` (a sample list each); see the module docstring."""
    t = thresholds or Thresholds()
    base = [v for night in nights for v in night]
    base_median = statistics.median(base)
    ratio = statistics.median(new) / base_median if base_median > 0 else math.inf
    envelope = max(low_quantile(night) for night in nights if night)
    floor_ratio = low_quantile(new) / envelope if envelope > 0 else math.inf
    p = mann_whitney_greater(base, new)
    low, high = _median_ratio_ci(base, new)
    enough = min(len(base), len(new)) >= t.min_samples and len(nights) >= t.min_nights
    regressed = enough and p < t.alpha and floor_ratio >= 1 + t.min_effect
    return Judgement(
        ratio=ratio,
        floor_ratio=floor_ratio,
        ci_low=low,
        ci_high=high,
        p_value=p,
        regressed=regressed,
    )


def detect(
    store: HistoryStore, run_id: str, thresholds: Thresholds | None = None
) -> list[Regression]:
    """Everything that got worse in `run_id` against the nights before it."""
    t = thresholds or Thresholds()
    runs = store.runs()
    if run_id not in runs:
        return []
    earlier = runs[: runs.index(run_id)][::-1][: t.lookback]  # newest first
    history: dict[tuple[str, str], list[CellResult]] = {}
    for past in earlier:
        for r in store.results(past):
            history.setdefault((r.module, r.cell), []).append(r)
    found: list[Regression] = []
    for result in store.results(run_id):
        before = history.get((result.module, result.cell), [])
        if before:
            found.extend(_against(result, before[: t.baseline_runs], t))
    return found


def _against(new: CellResult, before: list[CellResult], t: Thresholds) -> list[Regression]:
    last = before[0]
    out = []

    def regression(
        kind: Literal["status", "finding", "performance"], message: str, **kw: object
    ) -> Regression:
        return Regression(
            run_id=new.run_id, module=new.module, cell=new.cell, kind=kind, message=message, **kw
        )

    if new.status.rank > last.status.rank:
        detail = f": {new.message}" if new.message else ""
        out.append(regression("status", f"{last.status.value} -> {new.status.value}{detail}"))
    known = {f.fingerprint for f in last.findings}
    out.extend(
        regression("finding", f"new {f.severity} finding {f.rule}: {f.message}")
        for f in new.findings
        if f.fingerprint not in known
    )
    for metric, samples in sorted(new.samples.items()):
        nights = [r.samples[metric] for r in before if r.samples.get(metric)]
        if len(samples) < t.min_samples or len(nights) < t.min_nights:
            continue
        judgement = compare(nights, samples, t)
        if judgement.regressed:
            message = (
                f"{metric} median x{judgement.ratio:.2f} (95% CI {judgement.ci_low:.2f}-"
                f"{judgement.ci_high:.2f}), fast end x{judgement.floor_ratio:.2f} over the slowest "
                f"of {len(nights)} baseline night(s), p={judgement.p_value:.1e}"
            )
            out.append(regression("performance", message, metric=metric, judgement=judgement))
    return out
