"""`sandbench scan --format sarif`: the scanners' findings as a SARIF 2.1.0 log.

The same shape as the health report's SARIF (`sarif.py`): rule ids `SCANNER/RULE`, levels
from severity, locations relative to the module root (`MODULEROOT`), a scanner that could
not run as a tool notification. The fingerprint is the finding's own (the one baselines and
ignores use), so code-scanning UIs track a finding across runs as `--baseline` does.
"""

from __future__ import annotations

import json
from typing import Any

from sandbench.scanners import Finding, ScanReport

from .sarif import SARIF_SCHEMA

__all__ = ["render_scan_sarif"]

_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}


def _result(f: Finding) -> dict[str, Any]:
    physical: dict[str, Any] = {
        "artifactLocation": {
            "uri": f.path.as_posix() if f.path else "module.json",
            "uriBaseId": "MODULEROOT",
        }
    }
    if f.line:
        physical["region"] = {"startLine": f.line}
    return {
        "ruleId": f"{f.scanner}/{f.rule_id}",
        "level": _LEVEL.get(f.severity.value, "warning"),
        "message": {"text": f.message + (f" (fix: {f.remediation})" if f.remediation else "")},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {"sandbench/v1": f.fingerprint},
        "properties": {"severity": f.severity.value, "confidence": f.confidence.value},
    }


def render_scan_sarif(report: ScanReport, version: str) -> str:
    """`report` as a SARIF 2.1.0 log with one run; `version` is sandbench's."""
    findings = report.findings
    rules = {
        f"{f.scanner}/{f.rule_id}": {
            "id": f"{f.scanner}/{f.rule_id}",
            "shortDescription": {"text": f"{f.scanner} {f.rule_id}"},
        }
        for f in findings
    }
    notes = [
        {"level": "warning", "message": {"text": f"{r.scanner}: {r.skipped_reason}"}}
        for r in report.skipped
    ]
    run = {
        "tool": {
            "driver": {"name": "sandbench", "version": version, "rules": list(rules.values())}
        },
        "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notes}],
        "results": [_result(f) for f in findings],
        "properties": {
            "moduleId": report.module_id,
            "version": report.version,
            "failed": report.failed,
            "failOn": report.fail_on.value,
        },
    }
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2) + "\n"
