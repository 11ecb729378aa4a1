"""Renderers for a `BenchResult`: a text summary and a self-contained HTML page with SVG
plots (latency percentile spectrum, throughput and p99 per second, CPU and memory over
time). Pure functions: they return `str` and do no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from .result import BenchResult
from .stats import Stats, summarize

__all__ = ["render_html", "render_text"]

_W, _H, _PAD = 560, 240, 44
_COLOURS = ("#c0392b", "#2471a3", "#1e8449", "#7d3c98")


def _stats(stats: Stats | None, unit: str = "ms") -> str:
    if stats is None:
        return "-"
    return (
        f"median {stats.median:.2f} {unit} (n={stats.n}, sd {stats.stdev:.2f}, range "
        f"{stats.min:.2f}-{stats.max:.2f}; p95 {stats.p95:.2f}, p99 {stats.p99:.2f})"
    )


def render_text(result: BenchResult, status: str) -> str:
    """A summary for people: every figure with its sample count and spread."""
    lines = [f"{result.module_id} {result.version}: {status.upper()} ({result.backend})"]
    loads = result.loads
    lines.append(f"  load cold    {_stats(loads.cold_ms)}")
    if loads.cold_measured_at is not None:
        lines.append(
            f"               measured when compiled, at {loads.cold_measured_at:%Y-%m-%d %H:%M} "
            "UTC (`--cold` compiles again)"
        )
    lines.append(f"  load warm    {_stats(loads.warm_ms)}")
    if loads.violation is not None:
        lines.append(f"  violation    {loads.violation.kind}: {loads.violation.message}")
    if result.invoke is not None:
        lines.append(f"  invoke       {_stats(result.invoke.latency_ms)}")
        lines.append(f"  instantiate  {_stats(result.invoke.instantiate_ms)}")
    test = result.load_test
    if test is not None:
        cfg = test.config
        lines.append(
            f"  load test    {test.requests} requests at {test.achieved_rps:.0f} req/s "
            f"(target {cfg.rate:g}, {cfg.users} users, {cfg.duration_s:g} s, "
            f"{cfg.workers} workers); error rate {test.error_rate:.2%}"
        )
        lines.append(f"  latency      {_stats(test.latency_ms)}  [from intended send times]")
        lines.append(f"  service      {_stats(test.service_ms)}  [from actual send, closed loop]")
        if test.locust is not None:
            lo = test.locust
            lines.append(
                f"  locust says  p50 {lo.p50:g} ms, p95 {lo.p95:g}, p99 {lo.p99:g}, "
                f"max {lo.max:.0f} (n={lo.requests}; counts from the actual send)"
            )
        for check in test.thresholds:
            verdict = "pass" if check.passed else "FAIL"
            lines.append(
                f"  threshold    {check.threshold}: {verdict} (observed {check.observed:.4g})"
            )
        lines += [f"  warning      {note}" for note in test.warnings]
    for name, samples in (("server", result.server), ("containers", result.containers)):
        if samples:
            cpu = summarize([s.cpu_percent for s in samples])
            peak = max(s.rss_bytes for s in samples)
            lines.append(
                f"  {name:<12} CPU % of a core: median {cpu.median:.0f}, max {cpu.max:.0f} "
                f"(n={cpu.n}); memory peak {peak / 2**20:.1f} MiB"
            )
    lines += [f"  skipped      {key}: {reason}" for key, reason in result.skipped.items()]
    return "\n".join(lines) + "\n"


def _scale(values: Sequence[float], log: bool) -> tuple[float, float]:
    values = [math.log10(v) if log else v for v in values if not log or v > 0]
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def _chart(
    title: str,
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    x_label: str,
    y_label: str,
    *,
    log_y: bool = False,
    x_ticks: Sequence[tuple[float, str]] = (),
) -> str:
    xs = [x for _, points in series for x, _ in points]
    ys = [y for _, points in series for _, y in points]
    x0, x1 = _scale(xs, False)
    y0, y1 = _scale(ys, log_y)

    def px(x: float) -> float:
        return _PAD + (x - x0) / (x1 - x0) * (_W - 2 * _PAD)

    def py(y: float) -> float:
        v = math.log10(max(y, 1e-9)) if log_y else y
        return _H - _PAD + (y0 - v) / (y1 - y0) * (_H - 2 * _PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img">',
        f"<title>{escape(title)}</title>",
        f'<text x="{_W / 2}" y="16" text-anchor="middle" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#555"/>',
        f'<line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_H - _PAD}" stroke="#555"/>',
        f'<text x="{_W / 2}" y="{_H - 6}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="12" y="{_H / 2}" transform="rotate(-90 12 {_H / 2})" '
        f'text-anchor="middle">{escape(y_label)}</text>',
    ]
    for x, label in x_ticks:
        parts.append(
            f'<text x="{px(x):.1f}" y="{_H - _PAD + 14}" text-anchor="middle" '
            f'font-size="10">{escape(label)}</text>'
        )
    for value, anchor in ((y0, _H - _PAD), (y1, _PAD)):
        shown = 10**value if log_y else value
        parts.append(
            f'<text x="{_PAD - 4}" y="{anchor:.1f}" text-anchor="end" font-size="10">'
            f"{shown:.3g}</text>"
        )
    for index, (name, points) in enumerate(series):
        colour = _COLOURS[index % len(_COLOURS)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        parts.append(
            f'<text x="{_W - _PAD}" y="{30 + 14 * index}" text-anchor="end" fill="{colour}" '
            f'font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _nines(q: float) -> float:
    """Percentile q on a "number of nines" axis: 90 -> 1, 99 -> 2, 99.9 -> 3."""
    return math.log10(100 / max(100 - q, 0.001))


def _plots(result: BenchResult) -> list[str]:
    test = result.load_test
    plots: list[str] = []
    if test is not None and test.spectrum:
        levels = [(q, lat, svc) for q, lat, svc in test.spectrum if q < 100]
        ticks = [(_nines(q), f"p{q:g}") for q, _, _ in levels if q >= 50]
        plots.append(
            _chart(
                "Latency by percentile",
                [
                    ("from intended send time", [(_nines(q), lat) for q, lat, _ in levels]),
                    ("from actual send (closed loop)", [(_nines(q), svc) for q, _, svc in levels]),
                ],
                "percentile",
                "ms (log)",
                log_y=True,
                x_ticks=ticks,
            )
        )
    if test is not None and test.timeline:
        plots.append(
            _chart(
                "Throughput and p99 per second",
                [
                    ("requests/s", [(s.t, s.requests) for s in test.timeline]),
                    ("p99 ms", [(s.t, s.p99_ms) for s in test.timeline]),
                ],
                "seconds (by intended send time)",
                "req/s, ms",
            )
        )
    for title, samples in (
        ("Serving process: CPU and memory", result.server),
        ("Containers (cgroup counters): CPU and memory", result.containers),
    ):
        if samples:
            plots.append(
                _chart(
                    title,
                    [
                        ("CPU % of a core", [(s.t, s.cpu_percent) for s in samples]),
                        ("memory MiB", [(s.t, s.rss_bytes / 2**20) for s in samples]),
                    ],
                    "seconds",
                    "%, MiB",
                )
            )
    if test is not None and test.generator:
        plots.append(
            _chart(
                "Load generator (locust) CPU",
                [("CPU % of a core", [(s.t, s.cpu_percent) for s in test.generator])],
                "seconds",
                "%",
            )
        )
    return plots


def render_html(result: BenchResult, status: str) -> str:
    """A self-contained page: the text summary and the plots."""
    title = f"sandbench bench: {result.module_id} {result.version}"
    body = "\n".join(f"<figure>{plot}</figure>" for plot in _plots(result))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}pre{background:#f4f4f4;padding:1em}"
        "figure{display:inline-block;margin:1em}</style></head><body>\n"
        f"<h1>{escape(title)}</h1>\n<pre>{escape(render_text(result, status))}</pre>\n"
        f"{body}\n</body></html>\n"
    )
