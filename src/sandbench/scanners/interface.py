"""The scanner contract: `Scanner.scan(target) -> ScanResult`, and the models it returns.

A scanner reads a module's files and never runs its code. One that cannot do its job
(a tool missing, the advisory database unreachable) returns a `ScanResult` whose
`skipped_reason` says why: a check that did not run is data, never a silent pass.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from sandbench._camel import CAMEL
from sandbench.manifests import ModulePackage

__all__ = [
    "AdvisoryDatabase",
    "Confidence",
    "Finding",
    "ScanResult",
    "Scanner",
    "Severity",
    "fingerprint",
]


class Severity(StrEnum):
    """Finding severity, most severe first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical up to 4 for info: lower is worse."""
        return list(Severity).index(self)

    def at_least(self, other: Severity) -> bool:
        """True when this severity is `other` or worse."""
        return self.rank <= other.rank


class Confidence(StrEnum):
    """How sure the scanner is that the finding is real."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


def fingerprint(scanner: str, rule_id: str, path: str | None, context: str) -> str:
    """A finding's identity for baselines: stable when code moves up or down a file.

    It hashes the scanner, the rule, the file (relative to the module root) and a context
    that does not depend on line numbers: the flagged source line with its whitespace
    collapsed, or the subject of a non-code finding (a package and advisory id, a CSP
    directive). Two identical lines in one file share a fingerprint on purpose: a baseline
    entry covers both.
    """
    normalized = " ".join(context.split())
    text = "\x1f".join((scanner, rule_id, path or "", normalized))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Finding(BaseModel):
    """One thing a scanner found, with a stable rule id and fingerprint."""

    model_config = CAMEL

    scanner: str
    rule_id: str
    severity: Severity
    confidence: Confidence = Confidence.HIGH
    message: str
    path: Path | None = None
    line: int | None = Field(default=None, ge=1)
    fingerprint: str
    remediation: str | None = None

    @property
    def location(self) -> str:
        """`path:line`, `path` or `-` when the finding is about no file."""
        if self.path is None:
            return "-"
        return f"{self.path}:{self.line}" if self.line else str(self.path)


class AdvisoryDatabase(BaseModel):
    """Which vulnerability database a dependency scan used, and how old it was."""

    model_config = CAMEL

    kind: str  # "local" (an imported OSV export) or "remote" (an OSV API URL)
    location: str
    records: int | None = None
    newest_modified: datetime | None = None
    imported_at: datetime | None = None

    def describe(self, now: datetime) -> str:
        """One line: where, how many records and how old."""
        if self.kind == "remote":
            return f"OSV API at {self.location} (age unknown: remote)"
        age = ""
        if self.imported_at is not None:
            days = (now - self.imported_at).total_seconds() / 86400
            age = f", imported {self.imported_at:%Y-%m-%d} ({days:.1f} days ago)"
        newest = f", newest record {self.newest_modified:%Y-%m-%d}" if self.newest_modified else ""
        return f"local OSV store {self.location} ({self.records} records{newest}{age})"


class ScanResult(BaseModel):
    """What one scanner found, or why it could not run (`skipped_reason`)."""

    model_config = CAMEL

    scanner: str
    findings: tuple[Finding, ...] = ()
    skipped_reason: str | None = None
    summary: str = ""
    database: AdvisoryDatabase | None = None
    elapsed_ms: float = 0.0


class Scanner(Protocol):
    """Reads a module's files and reports findings. Never runs module code."""

    name: str

    def scan(self, package: ModulePackage) -> ScanResult:
        """Scan `package`. A scanner that cannot run returns `skipped_reason`, not an exception."""
        ...  # pragma: no cover
