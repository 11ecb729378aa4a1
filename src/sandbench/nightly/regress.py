"""Regressions between nights: a worse status, a new finding, a performance step.

Performance is judged in two stages (docs/nightly.md has the measured rates):

1. **Each night, paired.** When the config names a baseline (the last known-good artifact)
   for a module, the worker loads it beside the candidate and alternates their calls in
   blocks (`pairing = "calls"`; or interleaves whole checks round by round), so the
   machine's state that night cancels out. The night's value of a metric is the paired
   difference: with at least `min_pairs` blocks or rounds, the one-sample Hodges-Lehmann
   estimate of their log(candidate / baseline) with its signed-rank 95 % interval
   (`stats.paired_shift`; a block or a round is the unit, never a call of an unpaired run,
   because runs of one module differ by tens of per cent from one another while calls
   within a run do not: pooling calls would count one run's bias as many samples). With fewer rounds, the
   Hodges-Lehmann shift of log(candidate) over log(baseline) samples (`stats.log_shift`).
   Without a baseline it is the log of the night's median.
2. **Over the history.** E-divisive means (`stats.e_divisive`, a permutation test) finds
   change points in the last `lookback` nightly values. The newest change point raises an
   alarm when the step has persisted `min_after` nights (at most `max_after`: an older step
   is known, not news), every night since it is above the median of the nights before it
   (back to the previous change point) by `min_effect`, and the step's interval
   (`stats.step_interval`: its noise scale is the robust spread of the nights before)
   lies wholly above `1 + min_effect`; for paired nights every night since the change
   point must also be above the nights before it with its own interval's lower bound.
   One noisy night cannot alarm: it is never two nights, and the night after it is not
   high.

Both per-call metrics are recorded (`health.latency_ms`, the wall clock; `health.cpu_ms`,
the CPU time the sandbox measured per call), and a cell's alarms are judged on its
`primary` one: CPU time for a WASM cell (the calling thread's own clock, which a busy
neighbour does not move) and for a container paired by calls (its cgroup's CPU per
request over a block), the wall clock for another container. Other metrics (the cold load)
are judged each on its own, and an alarm names its metric. A history written before
`primary` existed judges every metric.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sandbench._camel import CAMEL

from .models import CPU, LATENCY, CellResult, Pairing
from .stats import Shift, e_divisive, log_shift, paired_shift, step_interval
from .store import HistoryStore

__all__ = [
    "BASELINE_PREFIX",
    "Judgement",
    "NightValue",
    "Regression",
    "Thresholds",
    "detect",
    "judge_series",
    "judged_metrics",
    "night_intervals",
    "night_value",
]

BASELINE_PREFIX = "baseline:"


class Thresholds(BaseModel):
    """How sure, how large and how lasting a slowdown must be to count."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = Field(default=0.05, description="permutation test of a change point")
    min_effect: float = Field(default=0.05, description="the step's interval must clear 1+this")
    confidence: float = 0.95
    lookback: int = Field(default=30, description="nights of history searched")
    min_after: int = Field(default=2, description="nights a step must persist to alarm")
    max_after: int = Field(default=3, description="a step older than this is known, not news")
    min_samples: int = 5
    min_pairs: int = Field(default=6, description="paired rounds for the round-paired value")
    permutations: int = 99


class NightValue(BaseModel):
    """One night's value of a metric: log ratio to the baseline (paired) or log median."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float
    paired: bool
    interval: Shift | None = Field(default=None, description="paired: the night's log interval")


class Judgement(BaseModel):
    """A metric's history: its newest change point, the step there and tonight's ratio."""

    model_config = CAMEL

    metric: str
    paired: bool
    change_run: str = Field(description="the night the step began")
    nights_after: int
    step: float = Field(description="ratio after/before the change point")
    step_low: float
    step_high: float
    p_value: float
    night_ratio: float | None = None
    night_low: float | None = None
    night_high: float | None = None
    night_pairing: str = Field(default="", description="how tonight was paired, in words")
    regressed: bool


class Regression(BaseModel):
    """Something that got worse in `run_id` against earlier nights."""

    model_config = CAMEL

    run_id: str
    module: str
    cell: str
    kind: Literal["status", "finding", "performance"]
    metric: str = ""
    message: str
    judgement: Judgement | None = None


def night_value(result: CellResult, metric: str, t: Thresholds | None = None) -> NightValue | None:
    """The night's value of `metric` in `result`; None without enough positive samples."""
    t = t or Thresholds()
    new = result.samples.get(metric, [])
    base = result.samples.get(BASELINE_PREFIX + metric, [])
    if len(new) < t.min_samples or min(new) <= 0:
        return None
    pairs = result.round_medians.get(metric, [])
    if len(pairs) >= t.min_pairs and min(min(p) for p in pairs) > 0:
        diffs = [math.log(c) - math.log(b) for c, b in pairs]
        interval = paired_shift(diffs, t.confidence)
        return NightValue(value=interval.estimate, paired=True, interval=interval)
    if len(base) >= t.min_samples and min(base) > 0:
        interval = log_shift(base, new, t.confidence)
        return NightValue(value=interval.estimate, paired=True, interval=interval)
    return NightValue(value=math.log(statistics.median(new)), paired=False)


def night_intervals(result: CellResult, t: Thresholds | None = None) -> dict[str, Shift]:
    """Per metric of `result` (not the `baseline:` ones), the night's paired ratio
    candidate/baseline with its interval, where it is bounded (`night_value`)."""
    out = {}
    for metric in result.samples:
        value = None if metric.startswith(BASELINE_PREFIX) else night_value(result, metric, t)
        if value is not None and value.interval is not None:
            ratio = value.interval
            if ratio.half_width < math.inf:
                out[metric] = Shift(
                    estimate=math.exp(ratio.estimate), low=math.exp(ratio.low),
                    high=math.exp(ratio.high),
                )  # fmt: skip
    return out


def judge_series(
    runs: Sequence[str],
    values: Sequence[float],
    metric: str,
    t: Thresholds | None = None,
    lows: Sequence[float] | None = None,
) -> Judgement | None:
    """Judge a metric's nightly values (oldest first, log scale); None without a change point.

    Only the last `lookback` nights are searched. The step is the nights after the newest
    change point against those before it (back to the previous change point). `lows`, when
    given, are the nights' own interval lower bounds (log, paired nights; -inf where a
    night has none): then every night since the change point must also be above the nights
    before it with its whole interval (a significant rise that night, not only a high
    estimate); the practical size, `min_effect`, is asked of the estimates and of the
    step's interval.
    """
    t = t or Thresholds()
    runs, values = list(runs)[-t.lookback :], list(values)[-t.lookback :]
    points = e_divisive(values, alpha=t.alpha, permutations=t.permutations, min_size=t.min_after)
    if not points:
        return None
    newest = points[-1]
    start = points[-2].index if len(points) > 1 else 0
    before, after = values[start : newest.index], values[newest.index :]
    step = step_interval(before, after, t.confidence)
    nights_after = len(after)
    # persisting: every night since the change point is above the nights before it
    centre = statistics.median(before)
    persists = min(after) > centre + math.log1p(t.min_effect)
    if lows is not None:
        persists = persists and min(list(lows)[-t.lookback :][newest.index :]) > centre
    regressed = (
        t.min_after <= nights_after <= t.max_after
        and persists
        and math.exp(step.low) > 1 + t.min_effect
    )
    return Judgement(
        metric=metric,
        paired=False,
        change_run=runs[newest.index],
        nights_after=nights_after,
        step=math.exp(step.estimate),
        step_low=math.exp(step.low),
        step_high=math.exp(step.high),
        p_value=newest.p_value,
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
    earlier = runs[: runs.index(run_id)][-t.lookback :]
    history: dict[tuple[str, str], list[CellResult]] = {}
    for past in earlier:  # oldest first
        for r in store.results(past):
            history.setdefault((r.module, r.cell), []).append(r)
    found: list[Regression] = []
    for result in store.results(run_id):
        before = history.get((result.module, result.cell), [])
        if before:
            found.extend(_status_and_findings(result, before[-1]))
            found.extend(_performance(result, before, t))
    return found


def _regression(new: CellResult, kind: str, message: str, **kw: object) -> Regression:
    return Regression.model_validate(
        {"run_id": new.run_id, "module": new.module, "cell": new.cell, "kind": kind}
        | {"message": message, **kw}
    )


def _status_and_findings(new: CellResult, last: CellResult) -> list[Regression]:
    out = []
    if new.status.rank > last.status.rank:
        detail = f": {new.message}" if new.message else ""
        out.append(_regression(new, "status", f"{last.status.value} -> {new.status.value}{detail}"))
    known = {f.fingerprint for f in last.findings}
    out.extend(
        _regression(new, "finding", f"new {f.severity} finding {f.rule}: {f.message}")
        for f in new.findings
        if f.fingerprint not in known
    )
    return out


def _performance(new: CellResult, before: list[CellResult], t: Thresholds) -> list[Regression]:
    out = []
    for metric in judged_metrics(new):
        tonight = night_value(new, metric, t)
        if tonight is None:
            continue
        runs, values, lows = [], [], []
        for past in [*before, new]:
            value = night_value(past, metric, t)
            if value is not None and value.paired == tonight.paired:
                runs.append(past.run_id)
                values.append(value.value)
                lows.append(value.interval.low if value.interval else -math.inf)
        judgement = judge_series(runs, values, metric, t, lows if tonight.paired else None)
        if judgement is None or not judgement.regressed:
            continue
        judgement = _with_night(judgement, tonight, new.pairing)
        out.append(
            _regression(new, "performance", describe(judgement), metric=metric, judgement=judgement)
        )
    return out


def judged_metrics(result: CellResult) -> list[str]:
    """The metrics of `result` whose steps alarm: its `primary` per-call metric (not the
    other one of latency and CPU time), and every other metric; all when `primary` is
    unknown (older histories)."""
    per_call = {LATENCY, CPU}
    return sorted(
        m
        for m in result.samples
        if not m.startswith(BASELINE_PREFIX)
        and (not result.primary or m not in per_call or m == result.primary)
    )


def _with_night(judgement: Judgement, tonight: NightValue, pairing: Pairing | None) -> Judgement:
    if tonight.interval is None:
        return judgement
    how = ""
    if pairing is not None and pairing.unit == "block":
        how = f"{pairing.pairs} blocks of {pairing.calls} alternated calls a side, {pairing.cpu}"
    return judgement.model_copy(
        update={
            "night_pairing": how,
            "paired": True,
            "night_ratio": math.exp(tonight.interval.estimate),
            "night_low": math.exp(tonight.interval.low),
            "night_high": math.exp(tonight.interval.high),
        }
    )


def describe(j: Judgement) -> str:
    """One line for an alarm: the metric, the night the step began, its size and interval."""
    what = "CPU time per call" if j.metric.endswith("cpu_ms") else "wall-clock latency"
    text = (
        f"{j.metric} ({what}) stepped x{j.step:.2f} (95% CI {j.step_low:.2f}-{j.step_high:.2f}) "
        f"from night {j.change_run} on ({j.nights_after} nights, change point p={j.p_value:.2f})"
    )
    if j.night_ratio is not None:
        text += (
            f"; tonight x{j.night_ratio:.2f} the baseline "
            f"(95% CI {j.night_low:.2f}-{j.night_high:.2f})"
        )
    if j.night_pairing:
        text += f" over {j.night_pairing}"
    return text
