"""Renderers: pure functions from a `HealthReport` to text. No I/O, no filtering."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import assert_never

from sandbench.manifests.text import printable

from .html import render_html
from .junit import render_junit
from .markdown import render_markdown
from .model import HealthReport, Status
from .sarif import render_sarif

__all__ = ["Format", "render", "render_json", "render_text"]


class Format(StrEnum):
    """The built-in report formats."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"
    SARIF = "sarif"
    JUNIT = "junit"
    CYCLONEDX = "cyclonedx"

    @property
    def suffix(self) -> str:
        """The file name ending for this format."""
        return {"text": ".txt", "markdown": ".md", "junit": ".xml", "cyclonedx": ".cdx.json"}.get(
            self.value, f".{self.value}"
        )

    def renderer(self) -> Callable[[HealthReport], str]:
        """The function that renders this format."""
        match self:
            case Format.TEXT:
                return render_text
            case Format.JSON:
                return render_json
            case Format.MARKDOWN:
                return render_markdown
            case Format.HTML:
                return render_html
            case Format.SARIF:
                return render_sarif
            case Format.JUNIT:
                return render_junit
            case Format.CYCLONEDX:
                return _cyclonedx
            case _:  # pragma: no cover
                assert_never(self)


def _cyclonedx(report: HealthReport) -> str:
    # Imported here: cyclonedx-python-lib takes 0.1-0.2 s of CPU to import, which every
    # `check` paid on start-up though only this format uses it.
    from .cyclonedx import render_cyclonedx

    return render_cyclonedx(report)


def render(report: HealthReport, fmt: Format) -> str:
    """Render `report` in `fmt`."""
    return fmt.renderer()(report)


def render_json(report: HealthReport) -> str:
    """The report as JSON, camelCase keys, as the platform reads it."""
    return report.model_dump_json(by_alias=True, indent=2) + "\n"


MAX_FINDINGS = 10
_MARK = {Status.HEALTHY: "ok", Status.DEGRADED: "DEGRADED", Status.CRITICAL: "CRITICAL"}


def render_text(report: HealthReport) -> str:
    """A short summary for people at a terminal."""
    lines = [f"{report.module_id} {report.version}: {report.status.value.upper()}"]
    load = report.load
    warm = load.warm_ms
    warm_text = (
        f"; warm median {warm.median:.2f} ms (n={warm.n}, {warm.min:.2f}-{warm.max:.2f})"
        if warm
        else ""
    )
    when = (
        f", measured when compiled, at {load.cold_measured_at:%Y-%m-%d %H:%M} UTC"
        if load.cold_measured_at
        else ""
    )
    lines.append(
        f"  load       cold {load.cold_ms:.1f} ms (compile {load.compile_ms:.1f}{when}){warm_text}"
    )
    if report.health is not None:
        h = report.health
        latency = h.latency_ms
        timing = f"; p50 {latency.median:.2f} ms, p95 {latency.p95:.2f} ms" if latency else ""
        lines.append(
            f"  health     {h.method} {h.path}: {h.ok}/{h.calls} answered {h.expect_status}{timing}"
        )
    if report.load_test is not None:
        t = report.load_test
        lines.append(
            f"  load test  {t.requests} requests at {t.achieved_rps:.0f}/s of {t.target_rps:g}/s: "
            f"p50 {t.latency_ms.median:.2f} ms, p95 {t.latency_ms.p95:.2f} ms, "
            f"p99 {t.latency_ms.p99:.2f} ms (n={t.latency_ms.n}), errors {t.error_rate:.1%}"
        )
    m = report.metrics
    lines.append(
        f"  usage      memory {m.memory_shown}, cpu {m.cpu_usage:.0f}m, "
        f"error rate {m.error_rate:.1%}"
    )
    lim = report.limits
    lines.append(f"  limits     {lim.shown}")
    if report.scans:
        ran = ", ".join(
            f"{s.scanner} {'NOT DONE' if s.skipped_reason else s.findings}" for s in report.scans
        )
        lines.append(f"  scans      {ran}")
    lines.append(
        f"  signature  {report.signature.status.value} (SHA256:{report.signature.digest[:16]}...)"
    )
    if report.publisher is not None:
        lines.append(f"  publisher  {report.publisher.shown}")
    for v in report.violations:
        times = f" (x{v.count})" if v.count > 1 else ""
        lines.append(f"  violation  {v.kind} during {v.phase}{times}: {v.message}")
    lines.extend(
        f"  {'inconclusive' if r.inconclusive else _MARK[r.status]:<10} {r.rule}: {r.message}"
        for r in report.rules
        if r.status is not Status.HEALTHY or r.inconclusive
    )
    lines.extend(
        f"  finding    {f.severity} {f.scanner} {f.rule_id}: {f.message}"
        for f in report.findings[:MAX_FINDINGS]
    )
    if len(report.findings) > MAX_FINDINGS:
        lines.append(
            f"  finding    ... and {len(report.findings) - MAX_FINDINGS} more (--format json)"
        )
    lines.extend(f"  skipped    {s.check_id}: {s.reason}" for s in report.skipped)
    # Names in findings and violations come from the module (import names, its output):
    # escaped, an ANSI sequence or a newline in them cannot rewrite or forge lines.
    return "\n".join(printable(line) for line in lines) + "\n"
