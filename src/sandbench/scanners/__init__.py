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
from ._support.least_privilege import unused_permissions
from ._support.parts import ModuleParts, PartAdvisory, PartPackage, module_parts, source_root
from .bandit import BanditScanner
from .capabilities import HOST_NAMESPACE, CapabilityScanner
from .coverage import CoverageScanner
from .interface import (
    AdvisoryDatabase,
    Confidence,
    Finding,
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
from .run import BackgroundScan, ScanReport, default_scanners, scan_all

__all__ = [
    "HOST_NAMESPACE",
    "SCAN_KEYS",
    "AdvisoryDatabase",
    "AdvisorySource",
    "AdvisoryStore",
    "BackgroundScan",
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
    "ModuleParts",
    "PartAdvisory",
    "PartPackage",
    "PipAuditScanner",
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
    "module_parts",
    "osv_server",
    "scan_all",
    "scan_policy",
    "source_root",
    "unused_permissions",
    "write_baseline",
]
