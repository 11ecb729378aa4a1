"""The module manifest: its model, units, permissions, JSON Schema, digest, signatures, loading."""

from __future__ import annotations

import json
from typing import Any

from .digest import MANIFEST_NAME, SIGNATURE_NAME, canonical_manifest, compute_digest
from .limits import LIMITS, LimitSpec, limit, limit_fields, not_enforced
from .load import load, parse_manifest, write_signature
from .models import (
    Author,
    ContainerRuntime,
    HealthCheck,
    HealthExpect,
    HealthRequest,
    Manifest,
    ManifestLimits,
    ModulePackage,
    Security,
    WasmRuntime,
)
from .permissions import Permission, Resource, parse_permission
from .publisher import (
    PublisherCheck,
    PublisherStatus,
    sign_module,
    signed_message,
    verify_publisher,
)
from .trust import TrustStore, load_trust_store
from .units import (
    Rate,
    format_bytes,
    format_duration,
    format_size,
    parse_cpu,
    parse_duration,
    parse_rate,
    parse_size,
)

__all__ = [
    "LIMITS",
    "MANIFEST_NAME",
    "SCHEMA_ID",
    "SIGNATURE_NAME",
    "Author",
    "ContainerRuntime",
    "HealthCheck",
    "HealthExpect",
    "HealthRequest",
    "LimitSpec",
    "Manifest",
    "ManifestLimits",
    "ModulePackage",
    "Permission",
    "PublisherCheck",
    "PublisherStatus",
    "Rate",
    "Resource",
    "Security",
    "TrustStore",
    "WasmRuntime",
    "canonical_manifest",
    "compute_digest",
    "format_bytes",
    "format_duration",
    "format_size",
    "json_schema",
    "json_schema_text",
    "limit",
    "limit_fields",
    "load",
    "load_trust_store",
    "not_enforced",
    "parse_cpu",
    "parse_duration",
    "parse_manifest",
    "parse_permission",
    "parse_rate",
    "parse_size",
    "sign_module",
    "signed_message",
    "verify_publisher",
    "write_signature",
]

SCHEMA_ID = "https://sandbench.dev/schemas/module-manifest-1.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of `module.json`, as accepted on input."""
    schema = Manifest.model_json_schema(mode="validation", by_alias=True)
    return {
        **schema,
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "sandbench module manifest (module.json)",
    }


def json_schema_text() -> str:
    """`json_schema()` as indented JSON text."""
    return json.dumps(json_schema(), indent=2, sort_keys=False)
