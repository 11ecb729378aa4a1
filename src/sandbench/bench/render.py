"""Renderers for a `BenchResult`: a text summary and a self-contained HTML page with SVG
plots (latency percentile spectrum, throughput and p99 per second, CPU and memory over
time). Pure functions: they return `str` and do no I/O.
"""

from __future__ import annotations

import math
from html import escape

from sandbench.charts import Axis, Series, Threshold, line_chart

from .result import BenchResult
from .stats import Stats, summarize
from .thresholds import parse_threshold

__all__ = ["render_html", "render_text"]


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


def _nines(q: float) -> float:
    """Percentile q on a "number of nines" axis: 90 -> 1, 99 -> 2, 99.9 -> 3."""
    return math.log10(100 / max(100 - q, 0.001))


def _drawn(result: BenchResult, metrics: set[str]) -> list[Threshold]:
    """The load test's thresholds on `metrics`, as lines (red when one failed)."""
    test = result.load_test
    if test is None:
        return []
    found = []
    for check in test.thresholds:
        parsed = parse_threshold(check.threshold)
        if parsed.metric in metrics:
            found.append(Threshold(parsed.value, check.threshold, failed=not check.passed))
    return found


def _latency_plots(result: BenchResult) -> list[str]:
    test = result.load_test
    if test is None:
        return []
    plots = []
    if test.spectrum:
        levels = [(q, lat, svc) for q, lat, svc in test.spectrum if q < 100]
        ticks = [(_nines(q), f"p{q:g}") for q, _, _ in levels if q >= 50]
        plots.append(line_chart(
            "Latency by percentile",
            [Series("from intended send time", [(_nines(q), lat) for q, lat, _ in levels]),
             Series("from actual send (closed loop)", [(_nines(q), s) for q, _, s in levels])],
            Axis("percentile", ticks=ticks, start_at_zero=False),
            Axis("latency (ms, log scale)", log=True),
            _drawn(result, {"p50", "p95", "p99", "max", "mean"}),
        ))  # fmt: skip
    if test.timeline:
        seconds = Axis("seconds into the test (by intended send time)")
        plots.append(line_chart(
            "Throughput per second",
            [Series("requests/s", [(s.t, s.requests) for s in test.timeline])],
            seconds, Axis("requests/s"), _drawn(result, {"rps"}),
        ))  # fmt: skip
        plots.append(line_chart(
            "p99 latency per second",
            [Series("p99 ms", [(s.t, s.p99_ms) for s in test.timeline])],
            seconds, Axis("p99 latency (ms)"), _drawn(result, {"p99"}),
        ))  # fmt: skip
    return plots


def _resource_plots(result: BenchResult) -> list[str]:
    """CPU and memory on separate charts: one unit per axis."""
    plots = []
    samples_by = [("Serving process", result.server),
                  ("Containers (cgroup counters)", result.containers)]  # fmt: skip
    if result.load_test is not None:
        samples_by.append(("Load generator (locust)", result.load_test.generator))
    for title, samples in samples_by:
        if not samples:
            continue
        seconds = Axis("seconds")
        plots.append(line_chart(
            f"{title}: CPU", [Series("CPU", [(s.t, s.cpu_percent) for s in samples])],
            seconds, Axis("CPU (% of one core)"),
        ))  # fmt: skip
        if title.startswith("Load generator"):
            continue
        plots.append(line_chart(
            f"{title}: memory", [Series("RSS", [(s.t, s.rss_bytes / 2**20) for s in samples])],
            seconds, Axis("memory (MiB)"),
        ))  # fmt: skip
    return plots


def _plots(result: BenchResult) -> list[str]:
    return _latency_plots(result) + _resource_plots(result)


def render_html(result: BenchResult, status: str) -> str:
    """A self-contained page: the text summary and the plots."""
    title = f"sandbench bench: {result.module_id} {result.version}"
    body = "\n".join(f"<figure>{plot}</figure>" for plot in _plots(result))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}"
        "pre{background:#f4f4f4;padding:1em;white-space:pre-wrap;overflow-wrap:anywhere}"
        "figure{display:inline-block;width:min(640px,100%);margin:1em 1em 1em 0}"
        "</style></head><body>\n"
        f"<h1>{escape(title)}</h1>\n<pre>{escape(render_text(result, status))}</pre>\n"
        f"{body}\n</body></html>\n"
    )
