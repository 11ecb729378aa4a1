"""HTML: one self-contained page (inline CSS and SVG charts, no scripts, no fetches)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from sandbench.manifests import format_bytes

from .model import HealthReport, Status

__all__ = ["render_html"]

_COLOR = {Status.HEALTHY: "#1a7f37", Status.DEGRADED: "#9a6700", Status.CRITICAL: "#cf222e"}
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1f2328}
h1{font-size:1.4rem}.badge{color:#fff;padding:.15rem .6rem;border-radius:1rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
td,th{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.muted{color:#656d76}svg{display:block;margin:.5rem 0 1.5rem}
"""


def _bars(samples: list[float], width: int = 640, height: int = 160) -> str:
    """An SVG bar chart of per-call latencies (ms), with the median marked."""
    if not samples:
        return "<p class='muted'>no calls were made</p>"
    top = max(samples) or 1.0
    step = min(width / len(samples), 48.0)
    bars = "".join(
        f"<rect x='{i * step + 1:.1f}' y='{height - 20 - (v / top) * (height - 30):.1f}' "
        f"width='{max(step - 2, 1):.1f}' height='{(v / top) * (height - 30):.1f}' fill='#0969da'>"
        f"<title>call {i + 1}: {v:.3f} ms</title></rect>"
        for i, v in enumerate(samples)
    )
    return (
        f"<svg role='img' aria-label='latency per call' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}'>{bars}"
        f"<text x='0' y='{height - 4}' font-size='11'>call 1 .. {len(samples)}; "
        f"highest {top:.3f} ms</text></svg>"
    )


def _gauge(used: int, limit: int, width: int = 640) -> str:
    """An SVG bar of peak memory against the limit."""
    share = min(used / limit, 1.0) if limit else 0.0
    return (
        f"<svg role='img' aria-label='memory against limit' width='{width}' height='44' "
        f"viewBox='0 0 {width} 44'><rect width='{width}' height='20' fill='#eaeef2'/>"
        f"<rect width='{width * share:.1f}' height='20' fill='#8250df'/>"
        f"<text x='0' y='38' font-size='11'>{escape(format_bytes(used))} of "
        f"{escape(format_bytes(limit))} ({share:.1%})</text></svg>"
    )


def _table(head: tuple[str, ...], rows: Sequence[Sequence[object]]) -> str:
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{header}</tr>{body}</table>"


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
    return ["<h2>Load test</h2>", summary, _table(head, rows)]


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
                ("CPU", f"{m.cpu_usage:.0f}m of {lim.cpu_millicores}m"),
                ("signature", report.signature.status.value),
                *([("publisher", report.publisher.shown)] if report.publisher else []),
            ],
        ),
        "<h2>Latency of the health calls</h2>",
        _bars(report.health.samples_ms if report.health else []),
        *_load_test(report),
        "<h2>Memory</h2>",
        _gauge(m.memory_usage, lim.memory_bytes),
        "<h2>Rules</h2>",
        _table(
            ("rule", "status", "detail"),
            [(r.rule, r.outcome, r.message) for r in report.rules],
        ),
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
