"""HTML: one self-contained page (inline CSS and SVG charts, no scripts, no fetches)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from sandbench.bench import Stats
from sandbench.charts import Axis, Series, Threshold, bar_chart, gauge, line_chart

from .model import HealthReport, Status

__all__ = ["render_html"]

_COLOR = {Status.HEALTHY: "#1a7f37", Status.DEGRADED: "#9a6700", Status.CRITICAL: "#cf222e"}
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1f2328}
h1{font-size:1.4rem}.badge{color:#fff;padding:.15rem .6rem;border-radius:1rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
td,th{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.muted{color:#656d76}svg{display:block;margin:.5rem 0 1.5rem}
body{padding:0 1rem;box-sizing:border-box}td{overflow-wrap:anywhere}
.rules td:nth-child(-n+2){white-space:nowrap}
tr.degraded td{background:#fff8c5}tr.critical td{background:#ffebe9}
"""


def _mib(value: float) -> str:
    return f"{value:.3g} MiB"


def _thresholds(report: HealthReport, rule: str, shown: float) -> list[Threshold]:
    """The policy lines of `rule`: the first always, a higher one only when the data reach
    it (a 500 ms line would flatten 3 ms bars), and any that failed."""
    found = [t for t in report.thresholds if t.rule == rule]
    return [
        Threshold(t.value, f"{t.label} {t.value:g} {t.unit}", t.failed)
        for i, t in enumerate(found)
        if i == 0 or t.failed or shown >= t.value
    ]


def _latency_chart(report: HealthReport) -> str:
    """Each health call's latency (ms) against the p95 thresholds."""
    samples = report.health.samples_ms if report.health else []
    if not samples:
        return "<p class='muted'>no calls were made</p>"
    lines = _thresholds(report, "latency-p95", max(samples))
    return bar_chart(
        "Latency per health call",
        samples,
        Axis("health call (#)", fmt=lambda v: f"{v:g}"),
        _latency_axis(samples, lines),
        lines,
        tips=[f"call {i + 1}: {v:.3f} ms" for i, v in enumerate(samples)],
    )


def _percentile_chart(report: HealthReport) -> str:
    """The load test's latency at p50, p95, p99 and max (ms) against the p95 thresholds."""
    test = report.load_test
    if test is None:
        return ""
    marks = ((1, "p50"), (2, "p95"), (3, "p99"), (4, "max"))
    lines = _thresholds(report, "latency-p95", test.latency_ms.max)

    def points(stats: Stats) -> list[tuple[float, float]]:
        return list(
            zip((1.0, 2.0, 3.0, 4.0), (stats.median, stats.p95, stats.p99, stats.max), strict=True)
        )

    return line_chart(
        "Load-test latency by percentile",
        [Series("from intended send", points(test.latency_ms)),
         Series("service (actual send)", points(test.service_ms))],
        Axis("percentile", ticks=marks),
        _latency_axis([test.service_ms.median, test.latency_ms.max], lines),
        lines,
    )  # fmt: skip


def _latency_axis(values: list[float], lines: list[Threshold]) -> Axis:
    """Milliseconds, on a log scale when a threshold is far above the data (a 100 ms line
    would flatten 0.2 ms bars to nothing)."""
    low = min([v for v in values if v > 0], default=1.0)
    if any(t.value > 20 * low for t in lines):
        return Axis("latency (ms, log scale)", log=True, fmt=_ms)
    return Axis("latency (ms)", fmt=_ms)


def _ms(value: float) -> str:
    return f"{value:g}"


def _gauges(report: HealthReport) -> list[str]:
    m, lim = report.metrics, report.limits
    mib = 2**20
    return [
        gauge("Peak memory", m.memory_usage / mib, lim.value("memory") / mib, _mib),
        gauge("CPU (millicores)", m.cpu_usage, lim.value("cpu"), lambda v: f"{v:.0f}m"),
    ]


def _table(head: tuple[str, ...], rows: Sequence[Sequence[object]]) -> str:
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{header}</tr>{body}</table>"


def _rules(report: HealthReport) -> str:
    """The rules table; a rule that fired is highlighted in its status's colour."""
    rows = "".join(
        f"<tr class='{r.status.value}'><td>{escape(r.rule)}</td><td>{escape(r.outcome)}</td>"
        f"<td>{escape(r.message)}</td></tr>"
        for r in report.rules
    )
    return (
        f"<table class='rules'><tr><th>rule</th><th>status</th><th>detail</th></tr>{rows}</table>"
    )


def _load_test(report: HealthReport) -> list[str]:
    test = report.load_test
    if test is None:
        return []
    rows = [
        (name, f"{stats.median:.2f}", f"{stats.p95:.2f}", f"{stats.p99:.2f}", f"{stats.max:.2f}",
         stats.n)
        for name, stats in (("from intended send", test.latency_ms), ("service", test.service_ms))
    ]  # fmt: skip
    head = ("latency (ms)", "p50", "p95", "p99", "max", "n")
    summary = (
        f"<p>{test.requests} requests at {test.achieved_rps:.0f}/s (target "
        f"{test.target_rps:g}/s), errors {test.error_rate:.2%}</p>"
    )
    return ["<h2>Load test</h2>", summary, _table(head, rows), _percentile_chart(report)]


def render_html(report: HealthReport) -> str:
    """The report as a standalone HTML page."""
    m, lim = report.metrics, report.limits
    title = f"{report.module_id} {report.version}"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>sandbench: {escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)} <span class='badge' style='background:{_COLOR[report.status]}'>"
        f"{report.status.value}</span></h1>",
        f"<p class='muted'>checked {escape(report.last_check.isoformat())} with sandbench "
        f"{escape(report.tool.version)} on {escape(report.tool.backend)}, policy "
        f"{escape(report.tool.policy)}</p>",
        _table(
            ("metric", "value"),
            [
                ("load time (cold)", f"{m.load_time:.1f} ms"),
                ("error rate", f"{m.error_rate:.2%}"),
                ("memory (peak)", m.memory_shown),
                ("CPU", f"{m.cpu_usage:.0f}m of {lim.shown_value('cpu')}"),
                ("signature", report.signature.status.value),
                *([("publisher", report.publisher.shown)] if report.publisher else []),
            ],
        ),
        "<h2>Latency of the health calls</h2>",
        _latency_chart(report),
        *_load_test(report),
        "<h2>Memory and CPU</h2>",
        *_gauges(report),
        "<h2>Rules</h2>",
        _rules(report),
    ]
    if report.violations:
        violations = [(v.kind, v.phase, v.count, v.message) for v in report.violations]
        parts += ["<h2>Violations</h2>", _table(("kind", "phase", "count", "message"), violations)]
    if report.findings:
        rows = [
            (f.severity, f.scanner, f.rule_id, f"{f.path or ''}:{f.line or ''}", f.message)
            for f in report.findings
        ]
        parts += [
            "<h2>Findings</h2>",
            _table(("severity", "scanner", "rule", "where", "message"), rows),
        ]
    if report.skipped:
        skipped = [(s.check_id, s.reason) for s in report.skipped]
        parts += ["<h2>Not run</h2>", _table(("check", "reason"), skipped)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
