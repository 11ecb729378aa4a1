"""Static scanners (never run module code): the `Scanner` contract and the `Finding` model."""

from __future__ import annotations

from .interface import Finding, Scanner, ScanResult, Severity

__all__ = ["Finding", "ScanResult", "Scanner", "Severity", "default_scanners"]


def default_scanners() -> tuple[Scanner, ...]:
    """The scanners a gate runs by default (none are built in yet: see the scanner issue)."""
    return ()
