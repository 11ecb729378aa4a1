"""Health reports: the model, the policy that maps evidence to a status, and the renderers."""

from __future__ import annotations

import json
from typing import Any

from .assess import RULES, assess
from .model import (
    REPORT_SCHEMA_VERSION,
    DependencyStatus,
    Evidence,
    HealthReport,
    RuleResult,
    SignatureStatus,
    Skipped,
    Status,
    ViolationReport,
)
from .policy import BUILT_IN_LIMITS, Policy, PolicyLimits, SignaturePolicy
from .render import Format, render, render_json, render_text
from .sarif import render_scan_sarif

__all__ = [
    "BUILT_IN_LIMITS",
    "REPORT_SCHEMA_VERSION",
    "RULES",
    "DependencyStatus",
    "Evidence",
    "Format",
    "HealthReport",
    "Policy",
    "PolicyLimits",
    "RuleResult",
    "SignaturePolicy",
    "SignatureStatus",
    "Skipped",
    "Status",
    "ViolationReport",
    "assess",
    "json_schema",
    "json_schema_text",
    "render",
    "render_json",
    "render_scan_sarif",
    "render_text",
]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the health report (as serialized, camelCase)."""
    schema = HealthReport.model_json_schema(by_alias=True, mode="serialization")
    return {
        **schema,
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://sandbench.dev/schemas/health-report-{REPORT_SCHEMA_VERSION}.json",
        "title": f"sandbench health report {REPORT_SCHEMA_VERSION}",
    }


def json_schema_text() -> str:
    """`json_schema()` as indented JSON."""
    return json.dumps(json_schema(), indent=2)
