"""The shared SVG chart module: nice ticks, axes, thresholds, valid SVG."""

from __future__ import annotations

import itertools
import math
import xml.dom.minidom

import pytest

from sandbench.charts import (
    Axis,
    Series,
    Threshold,
    bar_chart,
    gauge,
    line_chart,
    nice_ticks,
    trend_chart,
)


@pytest.mark.parametrize(
    ("low", "high"), [(0, 1), (0, 922), (0, 0.0625), (3.2, 17.9), (0, 15.3), (-4, 4), (5, 5)]
)
def test_nice_ticks_cover_the_range_in_round_steps(low, high):
    ticks = nice_ticks(low, high)
    assert ticks[0] <= low
    assert ticks[-1] >= high
    assert 2 <= len(ticks) <= 9
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 2.5, 5)
    assert all(math.isclose(b - a, step) for a, b in itertools.pairwise(ticks))


def parse(svg: str) -> xml.dom.minidom.Document:
    return xml.dom.minidom.parseString(svg)  # noqa: S318 - our own output


def classes(svg: str) -> list[str]:
    return [g.getAttribute("class") for g in parse(svg).getElementsByTagName("g")]


def test_a_line_chart_has_both_axes_ticks_a_legend_and_its_thresholds():
    svg = line_chart(
        "t",
        [Series("a", [(0, 1), (1, 3)]), Series("b", [(0, 2), (1, 2)])],
        Axis("seconds (s)"),
        Axis("latency (ms)"),
        [Threshold(2.5, "p95 < 2.5 ms", failed=True), Threshold(4, "critical 4 ms")],
    )
    found = classes(svg)
    assert found.count("axis-x") == found.count("axis-y") == 1
    assert found.count("tick") >= 6
    assert "legend" in found
    assert found.count("threshold threshold-failed") == found.count("threshold") == 1
    assert "p95 &lt; 2.5 ms (failed)" in svg
    assert "latency (ms)" in svg


def test_a_log_axis_ticks_by_powers_of_ten_and_covers_the_data():
    svg = bar_chart("t", [0.2, 50.0], Axis("call (#)"), Axis("ms", log=True))
    labels = [t.firstChild.data for t in parse(svg).getElementsByTagName("text")]
    assert {"0.1", "1", "10", "100"} <= set(labels)


def test_gauge_and_trend_are_valid_svg_and_trend_needs_samples():
    parse(gauge("Peak memory", 10, 64, lambda v: f"{v:g} MiB"))
    over = gauge("CPU", 900, 250, lambda v: f"{v:g}m")
    assert "threshold threshold-failed" in classes(over)
    svg = trend_chart("m", [("n1", [1.0, 2.0]), ("n2", [3.0]), ("n3", [])], Axis("m (ms)"))
    assert classes(svg).count("series") == 2
    assert trend_chart("m", [("n1", [])], Axis("m")) == ""
