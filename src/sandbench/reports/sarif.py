"""SARIF 2.1.0: failing policy rules, violations and scanner findings as results.

Locations are relative to the module root (`uriBaseId` `MODULEROOT`), so code-scanning UIs
can place them when the module lives in a repository.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .model import FindingReport, HealthReport, RuleResult, Status

__all__ = ["render_sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
_STATUS_LEVEL = {Status.CRITICAL: "error", Status.DEGRADED: "warning", Status.HEALTHY: "none"}


def _location(uri: str, line: int | None = None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": uri, "uriBaseId": "MODULEROOT"}}
    if line:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _finding_result(report: HealthReport, f: FindingReport) -> dict[str, Any]:
    return {
        "ruleId": f"{f.scanner}/{f.rule_id}",
        "level": _LEVEL.get(f.severity, "warning"),
        "message": {"text": f.message},
        "locations": [_location(f.path or "module.json", f.line)],
        "partialFingerprints": {
            "sandbench/v1": _fingerprint(report.module_id, f.scanner, f.rule_id, f.path, f.message)
        },
        "properties": {"severity": f.severity},
    }


def _rule_text(rule: RuleResult) -> str:
    return f"inconclusive: {rule.message}" if rule.inconclusive else rule.message


def render_sarif(report: HealthReport) -> str:
    """The report as a SARIF 2.1.0 log with one run."""
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for rule in report.rules:
        rule_id = f"policy/{rule.rule}"
        rules[rule_id] = {"id": rule_id, "shortDescription": {"text": f"policy rule {rule.rule}"}}
        if rule.status is not Status.HEALTHY or rule.inconclusive:
            results.append(
                {
                    "ruleId": rule_id,
                    "level": "note" if rule.inconclusive else _STATUS_LEVEL[rule.status],
                    "message": {"text": _rule_text(rule)},
                    "locations": [_location("module.json")],
                    "partialFingerprints": {
                        "sandbench/v1": _fingerprint(report.module_id, rule_id)
                    },
                }
            )
    for v in report.violations:
        rule_id = f"violation/{v.kind}"
        rules[rule_id] = {
            "id": rule_id,
            "shortDescription": {"text": f"sandbox violation {v.kind}"},
        }
        results.append(
            {
                "ruleId": rule_id,
                "level": "error",
                "message": {"text": f"{v.kind} during {v.phase} (x{v.count}): {v.message}"},
                "locations": [_location("module.json")],
                "partialFingerprints": {
                    "sandbench/v1": _fingerprint(report.module_id, rule_id, v.phase)
                },
            }
        )
    for f in report.findings:
        rule_id = f"{f.scanner}/{f.rule_id}"
        rules.setdefault(
            rule_id, {"id": rule_id, "shortDescription": {"text": f"{f.scanner} {f.rule_id}"}}
        )
        results.append(_finding_result(report, f))
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "sandbench",
                        "version": report.tool.version,
                        "rules": list(rules.values()),
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": [
                            {"level": "warning", "message": {"text": f"{s.check_id}: {s.reason}"}}
                            for s in report.skipped
                        ],
                    }
                ],
                "results": results,
                "properties": {
                    "moduleId": report.module_id,
                    "version": report.version,
                    "status": report.status.value,
                    "digest": report.signature.digest,
                },
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
