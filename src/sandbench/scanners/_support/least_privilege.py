"""Least privilege, as findings: the permissions a run in the sandbox left unused.

| rule | severity | when |
|---|---|---|
| `unused-permission` | low | a declared permission that no successful host API call of the health calls needed and no import can use |

The judging is done on what the run observed (`runtime.permission_use`); this module only
words each unused permission as a finding, so that it is fingerprinted, baselined and
rendered like every other one. Nothing here runs module code.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sandbench.scanners.interface import Finding, ScanResult, Severity, fingerprint

__all__ = ["NAME", "unused_permissions"]

NAME = "least-privilege"
_RULE = "unused-permission"
_MANIFEST = "module.json"


def unused_permissions(unused: Iterable[tuple[str, str]]) -> ScanResult:
    """One low finding per `(permission, evidence)` pair: declared but unused, and how to
    drop it. Never raises."""
    findings = tuple(
        Finding(
            scanner=NAME,
            rule_id=_RULE,
            severity=Severity.LOW,
            message=f"{permission} is declared but unused: {evidence}; "
            "drop it (`sandbench manifest suggest DIR` prints the minimal block)",
            path=Path(_MANIFEST),
            fingerprint=fingerprint(NAME, _RULE, _MANIFEST, permission),
        )
        for permission, evidence in unused
    )
    return ScanResult(scanner=NAME, findings=findings)
