"""SARIF 2.1.0: failing policy rules, violations and scanner findings as results.

For GitHub code scanning: locations are relative to the module root (`uriBaseId`
`MODULEROOT`), and `originalUriBaseIds` says where that root is in the repository
(`ModuleParts.source_root`, relative to `%SRCROOT%`), so alerts land on the module's files
when the module is a subfolder. Every rule has a help text, a help URI, tags (`security`
and the scanner) and a `security-severity` (a number as a string: 9.5 critical, 8.0 high,
5.5 medium, 3.0 low, 0.5 info; GitHub reads 9.0+ as critical, 7.0+ high, 4.0+ medium).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from sandbench.scanners import ScanReport

from .assess import finding_report
from .model import FindingReport, HealthReport, RuleResult, Status

__all__ = ["render_sarif", "render_scan_sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
_RULE_FILE = {
    "publisher-signature": "module.sig"
}  # where a failing rule points, if not module.json
_STATUS_LEVEL = {Status.CRITICAL: "error", Status.DEGRADED: "warning", Status.HEALTHY: "none"}
_SECURITY_SEVERITY = {
    "critical": "9.5",
    "high": "8.0",
    "medium": "5.5",
    "low": "3.0",
    "info": "0.5",
}
_STATUS_SEVERITY = {Status.CRITICAL: "9.0", Status.DEGRADED: "5.0", Status.HEALTHY: "0.5"}
DOCS = "https://sandbench.dev/"  # the project's site, as the report schema's $id
_ADVISORY = re.compile(r"^(PYSEC|GHSA|CVE|OSV|RUSTSEC|GO)-[\w-]+$")
_HELP_URI = {
    "bandit": "https://bandit.readthedocs.io/en/latest/plugins/index.html",
    "licenses": "https://spdx.org/licenses/",
}
_SCANNER_HELP = {
    "bandit": "bandit, a static analyser of Python code, flagged this pattern.",
    "pip-audit": "A dependency the module declares or ships has a known vulnerability.",
    "malware": "A pattern that malicious packages use (GuardDog's threat rules, or "
    "sandbench's rules MAL001-MAL012).",
    "licenses": "A dependency's license is not allowed, or not known, under the policy.",
    "capabilities": "The module's code uses a capability its manifest does not declare, "
    "or declares one it does not use.",
    "manifest-lint": "The manifest asks for more than the policy's ceilings allow.",
    "least-privilege": "The manifest declares a permission the module did not use.",
}


def _location(uri: str, line: int | None = None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": uri, "uriBaseId": "MODULEROOT"}}
    if line:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _rule(
    rule_id: str, short: str, help_text: str, uri: str, tags: list[str], severity: str
) -> dict[str, Any]:
    return {
        "id": rule_id,
        "shortDescription": {"text": short},
        "help": {"text": help_text, "markdown": f"{help_text}\n\nSee [{uri}]({uri})."},
        "helpUri": uri,
        "properties": {"tags": tags, "security-severity": severity},
    }


def _finding_rule(f: FindingReport) -> dict[str, Any]:
    if f.scanner == "pip-audit" and _ADVISORY.match(f.rule_id):
        uri = f"https://osv.dev/vulnerability/{f.rule_id}"
        tags = ["security", "vulnerability", "dependency", f.scanner]
    elif f.rule_id.startswith("threat-"):
        uri = "https://github.com/DataDog/guarddog#heuristics"
        tags = ["security", "malware", f.scanner]
    else:
        uri = _HELP_URI.get(f.scanner, f"{DOCS}docs/scanners.md#the-scanners")
        tags = ["security", f.scanner]
    help_text = _SCANNER_HELP.get(f.scanner, f"A finding of sandbench's {f.scanner} scanner.")
    if f.remediation:
        help_text += f" Remedy: {f.remediation}"
    return _rule(
        f"{f.scanner}/{f.rule_id}",
        f"{f.scanner} {f.rule_id}",
        help_text,
        uri,
        tags,
        _SECURITY_SEVERITY.get(f.severity, "5.5"),
    )


def _base_ids(root: str | None) -> dict[str, Any]:
    base: dict[str, Any] = {"description": {"text": "the module's folder (holds module.json)"}}
    if root is not None:
        base |= {"uri": f"{root}/" if root else "", "uriBaseId": "%SRCROOT%"}
    return {"MODULEROOT": base}


def _finding_result(module_id: str, f: FindingReport) -> dict[str, Any]:
    return {
        "ruleId": f"{f.scanner}/{f.rule_id}",
        "level": _LEVEL.get(f.severity, "warning"),
        "message": {"text": f.message},
        "locations": [_location(f.path or "module.json", f.line)],
        # The finding's own fingerprint: the one baselines and `[[ignore]]` entries name.
        "partialFingerprints": {
            "sandbench/v1": f.fingerprint
            or _fingerprint(module_id, f.scanner, f.rule_id, f.path, f.message)
        },
        "properties": {"severity": f.severity},
    }


def _publisher(report: HealthReport) -> dict[str, Any]:
    """The publisher signature's status, key fingerprint and principal, as run properties."""
    found = report.publisher
    if found is None:
        return {}
    return {
        "publisher": found.status.value,
        "publisherKeyFingerprint": found.key_fingerprint,
        "publisherPrincipal": found.principal,
        "authorVerified": report.author.verified if report.author else False,
    }


def _rule_text(rule: RuleResult) -> str:
    return f"inconclusive: {rule.message}" if rule.inconclusive else rule.message


def render_sarif(report: HealthReport) -> str:
    """The report as a SARIF 2.1.0 log with one run."""
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for rule in report.rules:
        rule_id = f"policy/{rule.rule}"
        rules[rule_id] = _rule(
            rule_id,
            f"policy rule {rule.rule}",
            f"sandbench's health policy rule {rule.rule}: {rule.message}",
            f"{DOCS}README.md#the-policy",
            ["security", "policy"],
            _STATUS_SEVERITY[rule.status],
        )
        if rule.status is not Status.HEALTHY or rule.inconclusive:
            results.append(
                {
                    "ruleId": rule_id,
                    "level": "note" if rule.inconclusive else _STATUS_LEVEL[rule.status],
                    "message": {"text": _rule_text(rule)},
                    "locations": [_location(_RULE_FILE.get(rule.rule, "module.json"))],
                    "partialFingerprints": {
                        "sandbench/v1": _fingerprint(report.module_id, rule_id)
                    },
                }
            )
    for v in report.violations:
        rule_id = f"violation/{v.kind}"
        rules[rule_id] = _rule(
            rule_id,
            f"sandbox violation {v.kind}",
            f"The module broke a limit or a permission in the sandbox ({v.kind}); the "
            "sandbox stopped or refused it.",
            f"{DOCS}README.md#how-limits-are-enforced-in-the-wasm-sandbox",
            ["security", "sandbox"],
            "9.0",
        )
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
    _add_findings(rules, results, report.module_id, report.findings)
    notes = [f"{s.check_id}: {s.reason}" for s in report.skipped]
    properties = {
        "moduleId": report.module_id,
        "version": report.version,
        "status": report.status.value,
        "digest": report.signature.digest,
        **_publisher(report),
    }
    source_root = report.parts.source_root if report.parts is not None else None
    return _log(report.tool.version, rules, results, notes, properties, source_root)


def render_scan_sarif(report: ScanReport, tool_version: str, source_root: str | None) -> str:
    """`sandbench scan`'s report as a SARIF 2.1.0 log; `source_root` as in `ModuleParts`."""
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    findings = [finding_report(f) for f in report.findings]
    _add_findings(rules, results, report.module_id, findings)
    notes = [f"{r.scanner}: {r.skipped_reason}" for r in report.skipped]
    properties = {"moduleId": report.module_id, "version": report.version}
    return _log(tool_version, rules, results, notes, properties, source_root)


def _add_findings(
    rules: dict[str, dict[str, Any]],
    results: list[dict[str, Any]],
    module_id: str,
    findings: list[FindingReport],
) -> None:
    for f in findings:
        rule_id = f"{f.scanner}/{f.rule_id}"
        descriptor = _finding_rule(f)
        known = rules.setdefault(rule_id, descriptor)
        worst = max(
            float(known["properties"]["security-severity"]),
            float(descriptor["properties"]["security-severity"]),
        )
        known["properties"]["security-severity"] = f"{worst:.1f}"
        results.append(_finding_result(module_id, f))


def _log(
    version: str,
    rules: dict[str, dict[str, Any]],
    results: list[dict[str, Any]],
    notes: list[str],
    properties: dict[str, Any],
    source_root: str | None,
) -> str:
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "sandbench",
                        "version": version,
                        "rules": list(rules.values()),
                    }
                },
                "originalUriBaseIds": _base_ids(source_root),
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": [
                            {"level": "warning", "message": {"text": note}} for note in notes
                        ],
                    }
                ],
                "results": results,
                "properties": properties,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
