"""k6-style thresholds: parsing, units and evaluation."""

from __future__ import annotations

import pytest

from sandbench.bench.thresholds import parse_threshold
from sandbench.errors import BenchError


@pytest.mark.parametrize(
    ("text", "metric", "op", "value"),
    [
        ("p95 < 100ms", "p95", "<", 100.0),
        ("p99<=1s", "p99", "<=", 1000.0),
        ("error_rate < 0.5%", "error_rate", "<", 0.005),
        ("error_rate < 0.01", "error_rate", "<", 0.01),
        ("rps >= 500", "rps", ">=", 500.0),
        ("MAX > 2", "max", ">", 2.0),
    ],
)
def test_parse(text, metric, op, value):
    threshold = parse_threshold(text)
    assert (threshold.metric, threshold.op) == (metric, op)
    assert threshold.value == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("p95 100ms", "expected METRIC OP VALUE"),
        ("p95 < 5%", "takes ms or s"),
        ("error_rate < 5ms", "fraction or a percentage"),
        ("p42 < 5ms", "unknown metric 'p42'"),
        ("rps > 5ms", "unknown metric 'rps'"),
    ],
)
def test_bad_thresholds_name_the_text(text, problem):
    with pytest.raises(BenchError, match=problem):
        parse_threshold(text)


def test_holds():
    threshold = parse_threshold("p95 < 100ms")
    assert threshold.holds(99.9)
    assert not threshold.holds(100)


@pytest.mark.parametrize(("p95_ms", "error_rate"), [(100.0, 0.005), (250.0, 0.01), (80.5, 0.0)])
def test_the_policys_load_test_thresholds_read_as_they_are_written(p95_ms, error_rate):
    from sandbench.reports import Policy
    from sandbench.reports.drawn import load_test_thresholds

    policy = Policy(p95_degraded_ms=p95_ms, max_error_rate=error_rate)
    built = load_test_thresholds(policy)
    # Built from the numbers, not written out and parsed back: the text still parses to them.
    assert [t.value for t in built] == [p95_ms, error_rate]
    for threshold in built:
        parsed = parse_threshold(threshold.text)
        assert (parsed.metric, parsed.op) == (threshold.metric, threshold.op)
        assert parsed.value == pytest.approx(threshold.value)
