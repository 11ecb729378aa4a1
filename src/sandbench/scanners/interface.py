"""The scanner contract. Implementations (bandit, pip-audit, licenses, WASM imports, manifest
lint) come with the scanner issue; `check` runs none and says so in `skipped`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from sandbench.manifests import ModulePackage

__all__ = ["Finding", "ScanResult", "Scanner", "Severity"]


class Severity(StrEnum):
    """Finding severity, most severe first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class Finding(BaseModel):
    """One thing a scanner found, located in a file, with a stable rule id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scanner: str
    rule_id: str
    severity: Severity
    message: str
    path: Path | None = None
    line: int | None = None


class ScanResult(BaseModel):
    """What one scanner found, or why it could not run (`skipped_reason`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scanner: str
    findings: tuple[Finding, ...] = ()
    skipped_reason: str | None = None


class Scanner(Protocol):
    """Reads a module's files and reports findings. Never runs module code."""

    name: str

    def scan(self, package: ModulePackage) -> ScanResult:
        """Scan `package`. A scanner that cannot run returns `skipped_reason`, not an exception."""
        ...  # pragma: no cover
