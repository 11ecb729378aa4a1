"""Markdown: a health report that fits a pull-request comment. Pure: report in, text out."""

from __future__ import annotations

from .model import HealthReport, Status

__all__ = ["render_markdown"]

_ICON = {Status.HEALTHY: "✅", Status.DEGRADED: "⚠️", Status.CRITICAL: "❌"}
MAX_FINDINGS = 50


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: HealthReport) -> str:
    """The report as GitHub-flavoured Markdown."""
    icon = _ICON[report.status]
    out = [
        f"### {icon} sandbench: `{report.module_id}` {report.version} is **{report.status.value}**",
        "",
    ]
    if report.reasons:
        out += [f"Set by: {', '.join(f'`{r}`' for r in report.reasons)}", ""]
    m, lim = report.metrics, report.limits
    out += [
        "| metric | value |",
        "|---|---|",
        f"| load time (cold) | {m.load_time:.1f} ms |",
        f"| error rate | {m.error_rate:.2%} |",
        f"| memory (peak) | {m.memory_shown} of {lim.shown_value('memory')} |",
        f"| CPU | {m.cpu_usage:.0f}m (limit {lim.shown_value('cpu')}) |",
    ]
    if report.health is not None and report.health.latency_ms is not None:
        h, lat = report.health, report.health.latency_ms
        out.append(
            f"| health `{_cell(h.method)} {_cell(h.path)}` | {h.ok}/{h.calls} answered "
            f"{h.expect_status}; p50 {lat.median:.2f} ms, p95 {lat.p95:.2f} ms (n={lat.n}) |"
        )
    if report.load_test is not None:
        t = report.load_test
        out.append(
            f"| load test | {t.requests} requests at {t.achieved_rps:.0f}/s; p95 "
            f"{t.latency_ms.p95:.2f} ms, p99 {t.latency_ms.p99:.2f} ms from intended send "
            f"times; errors {t.error_rate:.2%} |"
        )
    out.append(f"| signature | {report.signature.status.value} |")
    if report.publisher is not None:
        out.append(f"| publisher | {_cell(report.publisher.shown)} |")
    out += ["", "| rule | status | detail |", "|---|---|---|"]
    out += [
        f"| `{r.rule}` | {'❔' if r.inconclusive else _ICON[r.status]} {r.outcome} | "
        f"{_cell(r.message)} |"
        for r in report.rules
    ]
    if report.violations:
        out += ["", "**Violations**", ""]
        out += [
            f"- `{v.kind}` during {v.phase} (x{v.count}): {_cell(v.message)}"
            for v in report.violations
        ]
    if report.findings:
        shown = report.findings[:MAX_FINDINGS]
        out += [
            "",
            f"<details><summary>Findings ({len(report.findings)})</summary>",
            "",
            "| severity | scanner | rule | where | message |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {f.severity} | {f.scanner} | `{f.rule_id}` | "
            f"{_cell(f.path or '')}{f':{f.line}' if f.line else ''} | {_cell(f.message)} |"
            for f in shown
        ]
        if len(report.findings) > len(shown):
            out.append(f"| | | | | ... and {len(report.findings) - len(shown)} more |")
        out += ["", "</details>"]
    if report.skipped:
        out += ["", "Not run: " + "; ".join(f"{s.check_id} ({s.reason})" for s in report.skipped)]
    out += [
        "",
        f"<sub>sandbench {report.tool.version} · {report.tool.backend} · policy "
        f"{report.tool.policy} · {report.last_check.isoformat()}</sub>",
    ]
    return "\n".join(out) + "\n"
