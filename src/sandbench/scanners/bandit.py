"""Static analysis of the module's Python sources with bandit.

bandit runs as a subprocess (`python -m bandit -f json`) over every `.py` file under the
module root, so its plugins load in their own interpreter and a crash in one cannot take
the scan down. `# nosec` comments are honoured (bandit's default); the policy's
`bandit_skips` become `--skip`.

Severity and confidence: bandit's severity is ours (HIGH → high, MEDIUM → medium, LOW →
low), lowered one step when bandit's confidence is LOW, since such a finding is more
often noise than not. The confidence is kept as is. Rule ids are bandit's (`B602`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sandbench.manifests import ModulePackage

from ._support.bounded import run_tool
from ._support.files import module_files, read_capped
from .interface import Confidence, Finding, ScanResult, Severity, fingerprint

__all__ = ["BanditScanner", "python_sources"]

NAME = "bandit"
TIMEOUT_S = 300
MAX_FILES = 5000
_LOWER = {
    Severity.HIGH: Severity.MEDIUM,
    Severity.MEDIUM: Severity.LOW,
    Severity.LOW: Severity.INFO,
}


def python_sources(root: Path) -> list[Path]:
    """The module's `.py` files, sorted: regular files only, no links, no environments."""
    return [p for p in module_files(root) if p.suffix == ".py"]


def map_severity(severity: str, confidence: str) -> tuple[Severity, Confidence]:
    """bandit's (severity, confidence) pair onto ours; see the module docstring."""
    ours = Severity(severity.lower()) if severity.lower() in ("high", "medium", "low") else None
    conf = Confidence(confidence.lower()) if confidence.lower() in ("high", "medium") else None
    conf = conf or Confidence.LOW
    ours = ours or Severity.LOW
    return (_LOWER[ours] if conf is Confidence.LOW else ours), conf


class BanditScanner:
    """See the module docstring."""

    name = NAME

    def __init__(self, skips: tuple[str, ...] = ()) -> None:
        self.skips = skips

    def scan(self, package: ModulePackage) -> ScanResult:
        """See `Scanner.scan`."""
        root = package.root.resolve()
        files = python_sources(root)
        if not files:
            return ScanResult(scanner=NAME, summary="no Python sources")
        if len(files) > MAX_FILES:
            return ScanResult(scanner=NAME, skipped_reason=f"more than {MAX_FILES} Python files")
        report = self._run(root, files)
        if isinstance(report, str):
            return ScanResult(scanner=NAME, skipped_reason=report)
        errors = report.get("errors") or []
        findings = tuple(_finding(r, root) for r in report.get("results", []))
        note = f"; bandit could not parse {len(errors)} files" if errors else ""
        return ScanResult(
            scanner=NAME, findings=findings, summary=f"{len(files)} Python files{note}"
        )

    def _run(self, root: Path, files: list[Path]) -> dict[str, Any] | str:
        command = [sys.executable, "-m", "bandit", "-f", "json", "-q"]
        if self.skips:
            command += ["--skip", ",".join(self.skips)]
        command += [str(f) for f in files]
        try:
            done = run_tool(command, timeout=TIMEOUT_S, cwd=root)
        except subprocess.TimeoutExpired as exc:
            return f"bandit did not finish in {exc.timeout:.1f} s (its time budget)"
        # bandit exits 1 when it found something; anything else, or no JSON, is a failure.
        try:
            report: dict[str, Any] = json.loads(done.stdout)
        except json.JSONDecodeError:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            return f"bandit failed (exit {done.returncode}): {last}"
        return report


def _finding(result: dict[str, Any], root: Path) -> Finding:
    severity, confidence = map_severity(result["issue_severity"], result["issue_confidence"])
    path = Path(result["filename"])
    rel = (path.resolve().relative_to(root) if path.is_absolute() else path).as_posix()
    code = _source_line(root / rel, int(result["line_number"]))
    rule = str(result["test_id"])
    return Finding(
        scanner=NAME,
        rule_id=rule,
        severity=severity,
        confidence=confidence,
        message=f"{result['issue_text']} ({result['test_name']})",
        path=Path(rel),
        line=int(result["line_number"]) or None,
        fingerprint=fingerprint(NAME, rule, rel, code),
        remediation=result.get("more_info"),
    )


def _source_line(path: Path, line: int) -> str:
    try:
        text = read_capped(path, 16 * 1024 * 1024).decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return ""
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""
