"""Summary statistics that always carry their sample count and spread."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Stats", "percentile", "summarize"]


class Stats(BaseModel):
    """A sample summarized: count, centre, spread and tail (same unit as the samples)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    n: int = Field(ge=0)
    median: float
    mean: float
    stdev: float
    min: float
    max: float
    p95: float
    p99: float


def percentile(ordered: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100) of sorted `ordered`, by the nearest-rank method."""
    if not ordered:
        raise ValueError("percentile of no samples")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(samples: Sequence[float]) -> Stats:
    """Summarize `samples`; raises `ValueError` for an empty sample."""
    if not samples:
        raise ValueError("no samples to summarize")
    ordered = sorted(samples)
    return Stats(
        n=len(ordered),
        median=statistics.median(ordered),
        mean=statistics.fmean(ordered),
        stdev=statistics.stdev(ordered) if len(ordered) > 1 else 0.0,
        min=ordered[0],
        max=ordered[-1],
        p95=percentile(ordered, 95),
        p99=percentile(ordered, 99),
    )
