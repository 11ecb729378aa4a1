"""`sandbench scan DIR`: every static scanner, concurrently; text, JSON or SARIF."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from sandbench._version import __version__
from sandbench.pipeline import scan
from sandbench.reports.sarif import render_scan_sarif
from sandbench.scanners import ScanReport, Severity, source_root, write_baseline

from .config import resolve_policy
from .output import osv_options, output_option, policy_option, write_output

__all__ = ["format_text", "scan_command"]

_PATH = click.Path(dir_okay=False, path_type=Path)


def format_text(report: ScanReport) -> str:
    """A summary for people: one line per scanner, then one per finding, worst first."""
    now = datetime.now(UTC)
    lines = [f"{report.module_id} {report.version}: scanned in {report.elapsed_ms:.0f} ms"]
    for r in report.results:
        state = f"NOT DONE: {r.skipped_reason}" if r.skipped_reason else r.summary
        lines.append(f"  {r.scanner:<14} {len(r.findings):>3} findings  {state}")
        if r.database is not None:
            lines.append(f"  {'':<14} database: {r.database.describe(now)}")
    for f in report.findings:
        lines.append(f"{f.severity.value:<8} {f.rule_id:<26} {f.location}  {f.message}")
        if f.remediation:
            lines.append(f"{'':<35} fix: {f.remediation}")
    if report.suppressed:
        lines.append(f"{len(report.suppressed)} findings suppressed (baseline or policy ignores)")
    lines += [
        f"ignore of {i.rule} expired on {i.expires}: it no longer applies"
        for i in report.expired_ignores
    ]
    verdict = "FAIL" if report.failed else "PASS"
    lines.append(f"{verdict} (fails on {report.fail_on.value} and above, or a scanner not done)")
    return "\n".join(lines) + "\n"


@click.command("scan")
@click.argument("module", type=click.Path(path_type=Path))
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    envvar="SANDBENCH_FORMAT",
    show_default=True,
    help="Output for people or machines (SARIF 2.1.0 for code-scanning UIs).",
)
@output_option
@policy_option
@click.option("--baseline", type=_PATH, help="Suppress the findings whose fingerprints it lists.")
@click.option("--write-baseline", type=_PATH, help="Write the current findings' fingerprints.")
@click.option(
    "--fail-on",
    type=click.Choice([s.value for s in Severity]),
    default=None,
    help="Fail on findings at or above this severity (default: the policy's, high).",
)
@osv_options
def scan_command(
    module: Path, fmt: str, output: Path | None, policy_file: Path | None, baseline: Path | None,
    write_baseline: Path | None, fail_on: str | None, osv_url: str | None,
    advisory_db: Path | None,
) -> None:  # fmt: skip
    """Run every static scanner over MODULE; never runs its code.

    Exits 0 when nothing at or above the threshold was found, 1 when something was or a
    scanner could not run (e.g. no advisory database), 2 for bad input.
    """
    policy = resolve_policy(policy_file, scan=True).scan
    if fail_on:
        policy = policy.model_copy(update={"fail_on": Severity(fail_on)})
    report = scan(module, policy=policy, baseline=baseline, osv_url=osv_url,
                  advisory_store=advisory_db)  # fmt: skip
    if write_baseline:
        write_baseline_file(write_baseline, report)
    write_output(_render(report, fmt, module), output)
    raise SystemExit(1 if report.failed else 0)


def _render(report: ScanReport, fmt: str, root: Path) -> str:
    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    if fmt == "sarif":
        return render_scan_sarif(report, __version__, source_root(root))
    return format_text(report)


def write_baseline_file(path: Path, report: ScanReport) -> None:
    """Write `report`'s standing findings to `path` as a baseline."""
    write_baseline(path, list(report.findings))
