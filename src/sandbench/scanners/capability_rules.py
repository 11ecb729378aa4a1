"""What the capability rules share: the scanner's name, the host API and how findings look."""

from __future__ import annotations

from pathlib import Path

from sandbench.hostapi.abi import CORE_NAMESPACE
from sandbench.manifests import Permission, Resource

from .interface import Finding, Severity, fingerprint

__all__ = ["HOST_FUNCTIONS", "HOST_NAMESPACE", "NAME", "finding", "granted", "unused"]

NAME = "capabilities"
HOST_NAMESPACE = CORE_NAMESPACE
# Host function -> the (resource, actions) any one of which grants it; None needs nothing.
HOST_FUNCTIONS: dict[str, tuple[Resource, tuple[str, ...]] | None] = {
    "http_fetch": (Resource.API, ("external",)),
    "storage_read": (Resource.STORAGE, ("read", "write")),
    "storage_list": (Resource.STORAGE, ("read", "write")),
    "storage_write": (Resource.STORAGE, ("write",)),
    "storage_delete": (Resource.STORAGE, ("write",)),
    "db_query": (Resource.DATABASE, ("read", "write")),
    "db_execute": (Resource.DATABASE, ("write",)),
    "log": None,
}


def finding(
    rule: str, severity: Severity, message: str, path: str, subject: str, line: int | None = None
) -> Finding:
    """A capabilities finding; `subject` (an import, a permission, a source line) and the
    path make its fingerprint."""
    return Finding(
        scanner=NAME,
        rule_id=rule,
        severity=severity,
        message=message,
        path=Path(path) if path else None,
        line=line,
        fingerprint=fingerprint(NAME, rule, path, subject),
    )


def granted(perms: tuple[Permission, ...], resource: Resource, actions: tuple[str, ...]) -> bool:
    """Does any permission grant `resource` with one of `actions`?"""
    return any(p.resource is resource and p.action in actions for p in perms)


def unused(perm: Permission, why: str) -> Finding:
    """The least-privilege finding: `perm` is declared but `why` (nothing can use it)."""
    return finding(
        "unused-permission",
        Severity.LOW,
        f"permission {perm} is declared but {why}",
        "module.json",
        str(perm),
    )
