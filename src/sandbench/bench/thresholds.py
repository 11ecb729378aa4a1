"""k6-style pass/fail thresholds over a load test: `p95 < 100ms`, `error_rate < 0.5%`.

METRIC OP VALUE
METRIC  p50 | p95 | p99 | max | mean (latency, ms; counted from intended send times)
        | error_rate (a fraction or a percentage) | rps (achieved requests per second)
OP      < | <= | > | >=
VALUE   a number, with `ms` or `s` for latencies and `%` for error_rate
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from sandbench.errors import BenchError

__all__ = ["Threshold", "ThresholdResult", "parse_threshold"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_LATENCY = {"p50", "p95", "p99", "max", "mean"}
_FORM = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*(ms|s|%)?\s*$")


class Threshold(BaseModel):
    """One threshold, normalized: latencies in ms, error rate as a fraction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    metric: str
    op: str
    value: float

    def holds(self, observed: float) -> bool:
        """Whether `observed` (same unit as `value`) satisfies the threshold."""
        return _OPS[self.op](observed, self.value)


class ThresholdResult(BaseModel):
    """A threshold and what the load test measured for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: str
    observed: float
    passed: bool


def parse_threshold(text: str) -> Threshold:
    """Parse `text`; raises `BenchError` naming the text and the expected form."""
    match = _FORM.match(text.lower())
    if match is None:
        raise BenchError(f"threshold {text!r}: expected METRIC OP VALUE, e.g. 'p95 < 100ms'")
    metric, op, number, unit = match.groups()
    value = float(number)
    if metric in _LATENCY:
        if unit == "%":
            raise BenchError(f"threshold {text!r}: a latency takes ms or s, not %")
        value = value * 1000 if unit == "s" else value
    elif metric == "error_rate":
        if unit in ("ms", "s"):
            raise BenchError(f"threshold {text!r}: error_rate takes a fraction or a percentage")
        value = value / 100 if unit == "%" else value
    elif metric != "rps" or unit is not None:
        known = ", ".join([*sorted(_LATENCY), "error_rate", "rps"])
        raise BenchError(f"threshold {text!r}: unknown metric {metric!r}; expected one of {known}")
    return Threshold(text=text.strip(), metric=metric, op=op, value=value)
