"""Static scanners (never run module code): the `Scanner` contract, the `Finding` model and the scanners."""

from __future__ import annotations

from ._support.advisories import (
    AdvisorySource,
    AdvisoryStore,
    advisory_source,
    default_store_path,
    import_export,
    osv_server,
)
from .bandit import BanditScanner
from .capabilities import HOST_NAMESPACE, CapabilityScanner
from .coverage import CoverageScanner
from .interface import (
    AdvisoryDatabase,
    Confidence,
    Finding,
    ScanInputError,
    Scanner,
    ScanResult,
    Severity,
    fingerprint,
)
from .licenses import LicenseScanner
from .malware import MalwareScanner
from .manifest_lint import ManifestLintScanner
from .pip_audit import ImagePackages, PipAuditScanner
from .policy import (
    SCAN_KEYS,
    Ceilings,
    Ignore,
    LicensePolicy,
    ScanPolicy,
    Suppressed,
    load_baseline,
    scan_policy,
    write_baseline,
)
from .run import ScanReport, default_scanners, scan_all

__all__ = [
    "HOST_NAMESPACE",
    "SCAN_KEYS",
    "AdvisoryDatabase",
    "AdvisorySource",
    "AdvisoryStore",
    "BanditScanner",
    "CapabilityScanner",
    "Ceilings",
    "Confidence",
    "CoverageScanner",
    "Finding",
    "Ignore",
    "ImagePackages",
    "LicensePolicy",
    "LicenseScanner",
    "MalwareScanner",
    "ManifestLintScanner",
    "PipAuditScanner",
    "ScanInputError",
    "ScanPolicy",
    "ScanReport",
    "ScanResult",
    "Scanner",
    "Severity",
    "Suppressed",
    "advisory_source",
    "default_scanners",
    "default_store_path",
    "fingerprint",
    "import_export",
    "load_baseline",
    "osv_server",
    "scan_all",
    "scan_policy",
    "write_baseline",
]
