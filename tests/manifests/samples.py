"""Manifests shared by the manifest tests: the platform's example and small variations."""

from __future__ import annotations

import copy
import json
from typing import Any

SIGNATURE = "SHA256:" + "0123456789abcdef" * 4

# The platform's example module.json, as the platform documents it.
EXAMPLE: dict[str, Any] = {
    "name": "@plataforma/vendas-module",
    "version": "2.1.0",
    "license": "MIT",
    "runtime": {"kind": "wasm", "entry": "module.wasm", "abi": "command"},
    "security": {
        "permissions": [
            "database:read:vendas_schema",
            "api:external:crm.example.com",
            "storage:read:vendas_documents",
        ],
        "csp": {
            "script-src": "'self' 'unsafe-inline'",
            "connect-src": "'self' https://api.stripe.com",
        },
        "limits": {
            "memory": "256MB",
            "cpu": "250m",
            "storage": "1GB",
            "network": "100req/min",
            "timeout": "2s",
        },
    },
    "health": {"request": {"method": "GET", "path": "/"}, "expect": {"status": 200}},
    "signature": SIGNATURE,
    "author": {"name": "NXT Ecosystem", "verified": True},
}

# The fewest fields a manifest can have.
MINIMAL: dict[str, Any] = {
    "name": "minimal",
    "version": "1.0.0",
    "runtime": {"kind": "wasm", "entry": "module.wasm"},
}


DELETE = object()


def example(**changes: Any) -> dict[str, Any]:
    """A deep copy of `EXAMPLE` with dotted-path changes: `example(**{"runtime.entry": "x"})`.

    A change to the value `DELETE` removes the field.
    """
    result = copy.deepcopy(EXAMPLE)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = result
        for part in parents:
            node = node[part]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return result


def text(raw: dict[str, Any]) -> str:
    """The manifest as JSON text."""
    return json.dumps(raw)
