"""Measurement: load-time statistics, invocation latency, load tests and resource sampling."""

from __future__ import annotations

from .loadtest import LoadTestResult
from .loadtime import LoadTimes, measure_load
from .probe import ProbeResult, probe
from .stats import Stats, percentile, summarize

__all__ = [
    "LoadTestResult",
    "LoadTimes",
    "ProbeResult",
    "Stats",
    "measure_load",
    "percentile",
    "probe",
    "summarize",
]
