"""sandbench: run platform modules in sandboxes with their manifest's limits and report their health."""

from __future__ import annotations

from ._version import __version__
from .errors import (
    BackendUnavailable,
    BenchError,
    InvalidInput,
    ManifestError,
    PolicyError,
    SandbenchError,
    SandboxError,
    ScannerError,
)
from .pipeline import check, gate

__all__ = [
    "BackendUnavailable",
    "BenchError",
    "InvalidInput",
    "ManifestError",
    "PolicyError",
    "SandbenchError",
    "SandboxError",
    "ScannerError",
    "__version__",
    "check",
    "gate",
]
