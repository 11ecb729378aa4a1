"""The JSON Schema of module.json agrees with the parser."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from sandbench.errors import ManifestError
from sandbench.manifests import SCHEMA_ID, json_schema, json_schema_text, parse_manifest
from tests.manifests.samples import DELETE, EXAMPLE, MINIMAL, example


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_schema_is_draft_2020_12_with_our_id():
    schema = json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_ID
    assert schema["title"] == "sandbench module manifest (module.json)"
    assert schema["required"] == ["name", "version", "runtime"]
    assert schema["additionalProperties"] is False


def test_schema_text_is_the_schema():
    assert json.loads(json_schema_text()) == json_schema()


@pytest.mark.parametrize(
    "raw",
    [
        EXAMPLE,
        MINIMAL,
        {**MINIMAL, "$schema": SCHEMA_ID},
        example(**{"security.permissions": ["api:external:host:8443", "database:read:*"]}),
        example(**{"security.limits.network": "none"}),
        example(**{"security.limits.network": None}),
        example(**{"security.limits.cpu": 0.5}),
        example(**{"security.limits.memory": 1048576}),
        example(**{"health.request.headers": {"X-Token": "abc"}}),
        example(version="1.0.0-rc.1+build.5"),
        example(signature=DELETE, author=DELETE, health=DELETE),
    ],
)
def test_valid_manifests_validate(validator, raw):
    parse_manifest(json.dumps(raw))
    assert list(validator.iter_errors(raw)) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"name": DELETE},
        {"runtime.entry": DELETE},
        {"nmae": "x"},
        {"security.limits.memroy": "1MB"},
        {"name": "Bad_Name"},
        {"version": "1.0"},
        {"version": "01.0.0"},
        {"version": "v1.0.0"},
        {"runtime.kind": "docker"},
        {"runtime.abi": "library"},
        {"security.permissions": ["file:read:x"]},
        {"security.permissions": ["database:delete:x"]},
        {"security.permissions": "database:read:x"},
        {"security.limits.memory": "256XB"},
        {"security.limits.memory": "256M"},
        {"security.limits.memory": True},
        {"security.limits.cpu": "250M"},
        {"security.limits.network": "5/s"},
        {"security.limits.timeout": "2 hours"},
        {"security.csp": {"Script-Src": "x"}},
        {"health.request.headers": {"bad name": "x"}},
        {"health.request.method": "FETCH"},
        {"health.request.path": "health"},
        {"health.expect.status": 999},
        {"signature": "SHA256:abc"},
        {"author.verified": "yes!"},
        {"author.url": "ftp://x.org"},
    ],
    ids=repr,
)
def test_invalid_manifests_fail_both(validator, changes):
    raw = example(**changes)
    assert list(validator.iter_errors(raw)) != []
    with pytest.raises(ManifestError):
        parse_manifest(json.dumps(raw))


SIZES = [
    "256MB",
    "512MiB",
    "1GB",
    "1Gi",
    "64Ki",
    "1048576",
    "10 kB",
    "1kb",
    "100B",
    "1TiB",
    "1.5KiB",
]
NOT_SIZES = ["256XB", "256M", "1m", "1k", "1g", "1t", "MB", "1.5.2MB", "-1MB", "1PB", "1KiBB"]


@pytest.mark.parametrize("size", SIZES)
def test_schema_accepts_every_size_the_parser_does(validator, size):
    raw = example(**{"security.limits.memory": size})
    parse_manifest(json.dumps(raw))
    assert list(validator.iter_errors(raw)) == []


@pytest.mark.parametrize("size", NOT_SIZES)
def test_schema_rejects_sizes_the_parser_rejects(validator, size):
    raw = example(**{"security.limits.storage": size})
    with pytest.raises(ManifestError):
        parse_manifest(json.dumps(raw))
    assert list(validator.iter_errors(raw)) != []
