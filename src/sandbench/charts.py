"""Small SVG charts for the HTML report, the bench page and the nightly dashboard.

Pure functions over numbers that return SVG text: no dependencies, no scripts, no I/O.
Every chart has both axes with their unit and "nice" ticks (1, 2 or 5 times a power of
ten), one unit per y axis, and the policy's thresholds drawn as labelled dashed lines (red
when the rule failed). The legend sits above the plot, never over a line. Charts scale
with their container (`viewBox`, `width: 100%`), so text keeps its place at any width.

Elements carry classes a test can find: `axis-x`, `axis-y`, `tick`, `threshold`,
`threshold-failed`, `legend`, `series`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

__all__ = [
    "Axis",
    "Series",
    "Threshold",
    "bar_chart",
    "gauge",
    "line_chart",
    "nice_ticks",
    "trend_chart",
]

WIDTH, HEIGHT = 640, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 44, 40
COLOURS = ("#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df")
_FAIL, _PASS = "#cf222e", "#57606a"
_HALO = 'stroke="#fff" stroke-width="3" paint-order="stroke"'  # legible over a line


@dataclass(frozen=True)
class Axis:
    """An axis: its label with the unit (e.g. "latency (ms)"), scale and tick labels."""

    label: str
    log: bool = False
    fmt: Callable[[float], str] = field(default=lambda v: f"{v:g}")
    ticks: Sequence[tuple[float, str]] = ()  # fixed ticks (value, label) instead of nice ones
    start_at_zero: bool = True


@dataclass(frozen=True)
class Series:
    """A named line of (x, y) points."""

    name: str
    points: Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Threshold:
    """A policy limit drawn across the chart at `value` (y units); `label` is shown as is
    (give the value and unit in it), with "(failed)" added when the rule failed."""

    value: float
    label: str
    failed: bool = False


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [low, high], a step of 1, 2 or 5 x 10^k."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value < high + step * 0.999:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _log_ticks(low: float, high: float) -> list[float]:
    """Ticks on a log axis from the power of ten at or below `low` to the first tick at or
    above `high`: powers of ten, with 2 and 5 between when the range is short."""
    lo, hi = math.floor(math.log10(low)), math.ceil(math.log10(high))
    marks = (1,) if hi - lo > 2 else (1, 2, 5)
    ticks = [m * 10.0**k for k in range(lo, hi + 1) for m in marks]
    top = next(t for t in ticks if t >= high / 1.0001)
    return [t for t in ticks if t <= top] if top > ticks[0] else [ticks[0], ticks[0] * 10]


class _Frame:
    """Maps data to pixels inside the plot area; both ranges already padded to ticks."""

    def __init__(self, xr: tuple[float, float], yr: tuple[float, float], y_log: bool) -> None:
        self.xr, self.yr, self.y_log = xr, yr, y_log

    def x(self, value: float) -> float:
        lo, hi = self.xr
        return _LEFT + (value - lo) / ((hi - lo) or 1.0) * (WIDTH - _LEFT - _RIGHT)

    def y(self, value: float) -> float:
        lo, hi = self.yr
        if self.y_log:
            value, lo, hi = (math.log10(max(v, 1e-12)) for v in (value, lo, hi))
        return HEIGHT - _BOTTOM - (value - lo) / ((hi - lo) or 1.0) * (HEIGHT - _TOP - _BOTTOM)


def _y_ticks(values: Sequence[float], axis: Axis) -> list[float]:
    if axis.log:
        positive = [v for v in values if v > 0] or [1.0]
        return _log_ticks(min(positive), max(positive))
    low = min([*values, 0.0] if axis.start_at_zero else values, default=0.0)
    return nice_ticks(low, max(values, default=1.0))


def _x_ticks(values: Sequence[float], axis: Axis) -> list[tuple[float, str]]:
    if axis.ticks:
        return list(axis.ticks)
    low = min([*values, 0.0] if axis.start_at_zero else values, default=0.0)
    return [(t, axis.fmt(t)) for t in nice_ticks(low, max(values, default=1.0), 6)]


def _svg_open(title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-label="{escape(title)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" style="width:100%;max-width:{WIDTH}px;height:auto" '
        f'font-family="system-ui,sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{_LEFT}" y="14" font-weight="bold" font-size="12">{escape(title)}</text>',
    ]


def _axes(frame: _Frame, x: Axis, y: Axis, xt: list[tuple[float, str]], yt: list[float]) -> str:
    bottom, left = HEIGHT - _BOTTOM, _LEFT
    parts = [f'<g class="axis-x"><line x1="{left}" y1="{bottom}" x2="{WIDTH - _RIGHT}" '
             f'y2="{bottom}" stroke="#57606a"/>']  # fmt: skip
    for value, label in xt:
        px = frame.x(value)
        parts.append(
            f'<g class="tick"><line x1="{px:.1f}" y1="{bottom}" x2="{px:.1f}" y2="{bottom + 4}" '
            f'stroke="#57606a"/><text x="{px:.1f}" y="{bottom + 15}" '
            f'text-anchor="{_anchor(px)}">{escape(label)}</text></g>'
        )
    parts.append(
        f'<text class="axis-label" x="{(left + WIDTH - _RIGHT) / 2:.1f}" y="{HEIGHT - 6}" '
        f'text-anchor="middle">{escape(x.label)}</text></g>'
    )
    parts.append(f'<g class="axis-y"><line x1="{left}" y1="{_TOP}" x2="{left}" y2="{bottom}" '
                 f'stroke="#57606a"/>')  # fmt: skip
    for value in yt:
        py = frame.y(value)
        parts.append(
            f'<g class="tick"><line x1="{left}" y1="{py:.1f}" x2="{WIDTH - _RIGHT}" '
            f'y2="{py:.1f}" stroke="#d0d7de" stroke-width="0.5"/><text x="{left - 6}" '
            f'y="{py + 4:.1f}" text-anchor="end">{escape(y.fmt(value))}</text></g>'
        )
    mid = (_TOP + bottom) / 2
    parts.append(
        f'<text class="axis-label" x="14" y="{mid:.1f}" transform="rotate(-90 14 {mid:.1f})" '
        f'text-anchor="middle">{escape(y.label)}</text></g>'
    )
    return "".join(parts)


def _anchor(px: float) -> str:
    """Tick labels at either end of the x axis grow inwards, so they stay inside the chart."""
    if px > WIDTH - _RIGHT - 24:
        return "end"
    return "start" if px < _LEFT - 16 else "middle"


def _thresholds(frame: _Frame, thresholds: Sequence[Threshold]) -> str:
    parts = []
    for t in thresholds:
        py = frame.y(t.value)
        colour = _FAIL if t.failed else _PASS
        kind = "threshold threshold-failed" if t.failed else "threshold"
        label = t.label + (" (failed)" if t.failed else "")
        parts.append(
            f'<g class="{kind}"><line x1="{_LEFT}" y1="{py:.1f}" x2="{WIDTH - _RIGHT}" '
            f'y2="{py:.1f}" stroke="{colour}" stroke-dasharray="6 4" stroke-width="1.5"/>'
            f'<text x="{WIDTH - _RIGHT - 4}" y="{py - 4:.1f}" text-anchor="end" '
            f'fill="{colour}" {_HALO}>{escape(label)}</text></g>'
        )
    return "".join(parts)


def _legend(names: Sequence[str]) -> str:
    """Names in a row above the plot area (never over a line)."""
    parts, x = ['<g class="legend">'], float(_LEFT)
    for index, name in enumerate(names):
        colour = COLOURS[index % len(COLOURS)]
        parts.append(
            f'<rect x="{x:.1f}" y="24" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14:.1f}" y="33">{escape(name)}</text>'
        )
        x += 14 + 6.5 * len(name) + 16
    parts.append("</g>")
    return "".join(parts)


def _frame(
    xs: Sequence[float], ys: Sequence[float], x: Axis, y: Axis
) -> tuple[_Frame, list[tuple[float, str]], list[float]]:
    xt = _x_ticks(xs, x)
    yt = _y_ticks(ys, y)
    x_values = [v for v, _ in xt] + list(xs)
    frame = _Frame((min(x_values), max(x_values)), (min(yt), max(yt)), y.log)
    return frame, xt, yt


def line_chart(
    title: str,
    series: Sequence[Series],
    x: Axis,
    y: Axis,
    thresholds: Sequence[Threshold] = (),
) -> str:
    """Lines of `series` on one y unit, with axes, ticks, thresholds and a legend."""
    xs = [px for s in series for px, _ in s.points]
    ys = [py for s in series for _, py in s.points if not y.log or py > 0]
    ys += [t.value for t in thresholds]
    frame, xt, yt = _frame(xs, ys, x, y)
    parts = [*_svg_open(title), _axes(frame, x, y, xt, yt), _thresholds(frame, thresholds)]
    for index, s in enumerate(series):
        points = [(px, py) for px, py in s.points if not y.log or py > 0]
        path = " ".join(f"{frame.x(px):.1f},{frame.y(py):.1f}" for px, py in points)
        colour = COLOURS[index % len(COLOURS)]
        parts.append(
            f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" '
            f'points="{path}"><title>{escape(s.name)}</title></polyline>'
        )
    if len(series) > 1:
        parts.append(_legend([s.name for s in series]))
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    title: str,
    values: Sequence[float],
    x: Axis,
    y: Axis,
    thresholds: Sequence[Threshold] = (),
    tips: Sequence[str] = (),
) -> str:
    """One bar per value (x = 1..n), with axes, ticks and thresholds; `tips` are tooltips."""
    n = len(values)
    frame, xt, yt = _frame([0.5, n + 0.5], [*values, *(t.value for t in thresholds)], x, y)
    frame.xr = (0.5, n + 0.5)
    xt = [(v, label) for v, label in xt if 1 <= v <= n] or [(1, x.fmt(1))]
    parts = [*_svg_open(title), _axes(frame, x, y, xt, yt)]
    width = max((WIDTH - _LEFT - _RIGHT) / max(n, 1) - 2, 1.0)
    base = frame.y(yt[0])
    for index, value in enumerate(values):
        top = frame.y(value)
        tip = tips[index] if index < len(tips) else f"{index + 1}: {y.fmt(value)}"
        over = any(t.failed and value > t.value for t in thresholds)
        parts.append(
            f'<rect class="series" x="{frame.x(index + 1) - width / 2:.1f}" y="{top:.1f}" '
            f'width="{width:.1f}" height="{max(base - top, 0.5):.1f}" '
            f'fill="{_FAIL if over else COLOURS[0]}"><title>{escape(tip)}</title></rect>'
        )
    parts += [_thresholds(frame, thresholds), "</svg>"]
    return "".join(parts)


def gauge(title: str, used: float, limit: float, fmt: Callable[[float], str]) -> str:
    """A horizontal bar of `used` against `limit` with a 0..limit axis and the limit drawn."""
    top = max(used, limit, 1e-9)
    ticks = [t for t in nice_ticks(0, top, 5) if t <= top * 1.0001]
    span = WIDTH - _LEFT - _RIGHT

    def px(value: float) -> float:
        return _LEFT + value / top * span

    failed = used > limit
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-label="{escape(title)}" '
        f'viewBox="0 0 {WIDTH} 84" style="width:100%;max-width:{WIDTH}px;height:auto" '
        f'font-family="system-ui,sans-serif" font-size="11"><title>{escape(title)}</title>',
        f'<rect x="{_LEFT}" y="20" width="{span}" height="22" fill="#eaeef2"/>',
        f'<rect class="series" x="{_LEFT}" y="20" width="{px(used) - _LEFT:.1f}" height="22" '
        f'fill="{_FAIL if failed else "#8250df"}"/>',
        f'<text x="{_LEFT}" y="14">{escape(title)}: {escape(fmt(used))} of '
        f"{escape(fmt(limit))} ({used / limit if limit else 0:.1%})</text>",
        f'<g class="axis-x"><line x1="{_LEFT}" y1="46" x2="{WIDTH - _RIGHT}" y2="46" '
        f'stroke="#57606a"/>',
    ]
    parts.extend(
        f'<g class="tick"><line x1="{px(value):.1f}" y1="46" x2="{px(value):.1f}" y2="50" '
        f'stroke="#57606a"/><text x="{px(value):.1f}" y="62" '
        f'text-anchor="{_anchor(px(value))}">{escape(fmt(value))}</text></g>'
        for value in ticks
    )
    parts.append("</g>")
    colour = _FAIL if failed else _PASS
    left = px(limit) < _LEFT + span / 2
    label_x, anchor = (px(limit) + 4, "start") if left else (px(limit) - 4, "end")
    parts.append(
        f'<g class="threshold{" threshold-failed" if failed else ""}"><line x1="{px(limit):.1f}" '
        f'y1="18" x2="{px(limit):.1f}" y2="46" stroke="{colour}" stroke-dasharray="4 3" '
        f'stroke-width="2"/><text x="{label_x:.1f}" y="78" text-anchor="{anchor}" '
        f'fill="{colour}">limit {escape(fmt(limit))}</text></g></svg>'
    )
    return "".join(parts)


def trend_chart(
    title: str,
    nights: Sequence[tuple[str, Sequence[float]]],
    y: Axis,
    thresholds: Sequence[Threshold] = (),
    marks: Sequence[tuple[int, str]] = (),
    mark_class: str = "mark",
) -> str:
    """Per night (x = the nights in order, labelled by their last 10 characters): the
    samples' range as a whisker, the interquartile box and the median line; `marks` are
    (night index, text) annotations drawn on the chart (a change point, why a night
    failed), visible without hovering. Empty when no night has samples."""
    kept = [(name, sorted(values)) for name, values in nights if values]
    if not kept:
        return ""
    labels = [(float(i), name[-10:]) for i, (name, _) in enumerate(kept)]
    every = max(1, math.ceil(len(labels) / 8))  # at most ~8 labels: they must not collide
    x = Axis(f"night ({len(kept)})", ticks=labels[::every], start_at_zero=False)
    ys = [v for _, values in kept for v in values] + [t.value for t in thresholds]
    # half a night of room at either end, so the first and last boxes are not on the axes
    frame, xt, yt = _frame([-0.5, len(kept) - 0.5], ys, x, y)
    parts = [*_svg_open(title), _axes(frame, x, y, xt, yt), _thresholds(frame, thresholds)]
    median = []
    for index, (name, values) in enumerate(kept):
        px = frame.x(index)
        low, q1, mid, q3, high = _five(values)
        median.append(f"{px:.1f},{frame.y(mid):.1f}")
        parts.append(
            f'<g class="series"><title>{escape(name)}: median {y.fmt(mid)}, IQR {y.fmt(q1)}-'
            f"{y.fmt(q3)}, n={len(values)}</title>"
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{frame.y(low):.1f}" y2="{frame.y(high):.1f}" '
            f'stroke="#afb8c1"/><rect x="{px - 4:.1f}" y="{frame.y(q3):.1f}" width="8" '
            f'height="{max(frame.y(q1) - frame.y(q3), 1):.1f}" fill="#54aeff" opacity="0.6"/></g>'
        )
    parts.append(
        f'<polyline class="series" points="{" ".join(median)}" fill="none" '
        f'stroke="{COLOURS[0]}" stroke-width="2"/>'
    )
    for index, text in marks:
        px = frame.x(index)
        parts.append(
            f'<g class="{mark_class}"><line x1="{px:.1f}" x2="{px:.1f}" y1="{_TOP}" '
            f'y2="{HEIGHT - _BOTTOM}" stroke="{_FAIL}" stroke-dasharray="2 2"/>'
            f'<text x="{px + (-4 if px > WIDTH / 2 else 4):.1f}" y="{_TOP + 10}" '
            f'text-anchor="{"end" if px > WIDTH / 2 else "start"}" fill="{_FAIL}" {_HALO}>'
            f"{escape(text[:80])}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _five(values: Sequence[float]) -> tuple[float, float, float, float, float]:
    """Minimum, quartiles and maximum of sorted `values`."""
    if len(values) == 1:
        return (values[0],) * 5
    q1, mid, q3 = statistics.quantiles(values, n=4)
    return values[0], q1, mid, q3, values[-1]
