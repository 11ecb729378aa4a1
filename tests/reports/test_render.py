"""Renderers: exact JSON shape (the platform's field names) and the text summary."""

from __future__ import annotations

import json

import jsonschema
import pytest

from sandbench.reports import Format, assess, json_schema, render
from sandbench.sandbox import Outcome, Usage, Violation, ViolationKind

from .conftest import answer, make_evidence


def test_json_has_the_module_health_check_fields_under_their_names():
    data = json.loads(render(assess(make_evidence()), Format.JSON))
    assert data["moduleId"] == "@t/m"
    assert data["version"] == "1.2.3"
    assert data["status"] == "healthy"
    assert data["lastCheck"] == "2026-11-30T12:00:00Z"
    assert data["metrics"] == {
        "loadTime": 12.5,
        "errorRate": 0.0,
        "memoryUsage": 65536,
        "cpuUsage": 2.5,  # 2.5 ms of CPU over the one-second window
        "dependencies": {"wasi_snapshot_preview1": "ok"},
    }
    assert data["schemaVersion"] == "1.0"
    assert data["limits"]["memoryBytes"] == 128 * 1024 * 1024
    assert data["signature"]["status"] == "valid"
    assert data["tool"] == {
        "name": "sandbench",
        "version": "0.1.0",
        "backend": "wasmtime 50.0.1",
        "policy": "built-in",
        "components": {},
    }


def test_json_validates_against_the_published_schema():
    bad = Outcome(
        violation=Violation(kind=ViolationKind.EXIT, message="x", exit_code=3), usage=Usage()
    )
    for ev in (make_evidence(), make_evidence(outcomes=(bad,))):
        data = json.loads(render(assess(ev), Format.JSON))
        jsonschema.validate(data, json_schema())


def test_text_summary_of_a_healthy_module():
    text = render(assess(make_evidence()), Format.TEXT)
    assert text.splitlines()[0] == "@t/m 1.2.3: HEALTHY"
    assert "  health     GET /: 5/5 answered 200; p50 1.00 ms, p95 1.00 ms" in text
    assert "  signature  valid (SHA256:abababababababab...)" in text


def test_text_summary_names_what_went_wrong():
    bad = Outcome(violation=Violation(kind=ViolationKind.CPU, message="spun"), usage=Usage())
    text = render(assess(make_evidence(outcomes=(answer(), bad))), Format.TEXT)
    assert "  violation  cpu during invoke: spun" in text
    assert "  CRITICAL   limit-violations: 1 of 2 health calls failed; first: cpu: spun" in text


@pytest.mark.parametrize("fmt", list(Format))
def test_every_format_renders(fmt):
    assert render(assess(make_evidence()), fmt).endswith("\n")


def test_text_summary_escapes_what_the_module_wrote():
    # A violation message holds the module's own output: no escape sequence, no forged line.
    forged = "\x1b[2J\x1b]0;owned\x07spun\n  ok         everything: fine"
    bad = Outcome(violation=Violation(kind=ViolationKind.CPU, message=forged), usage=Usage())
    text = render(assess(make_evidence(outcomes=(answer(), bad))), Format.TEXT)
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "  violation  cpu during invoke: \\x1b[2J\\x1b]0;owned\\x07spun\\n  ok  " in text
    assert all(line.isprintable() for line in text.splitlines())
