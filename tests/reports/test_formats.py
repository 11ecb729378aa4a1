"""Markdown, HTML, SARIF and JUnit over the same reports: exact where it matters, and valid."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from sandbench.reports import Format, assess, render
from sandbench.sandbox import Outcome, Usage, Violation, ViolationKind
from sandbench.scanners import Finding, ScanResult, Severity

from .conftest import answer, make_evidence

SARIF_SCHEMA = json.loads(
    (
        Path(__file__).resolve().parents[3] / "shared" / "schemas" / "sarif-schema-2.1.0.json"
    ).read_text()
)
BAD = Outcome(violation=Violation(kind=ViolationKind.CPU, message="spun"), usage=Usage())
FINDING = Finding(
    scanner="bandit",
    rule_id="B602",
    severity=Severity.HIGH,
    message="shell=True",
    path=Path("app/handler.py"),
    line=12,
    fingerprint="abc123",
)


@pytest.fixture(params=["healthy", "critical"])
def report(request):
    if request.param == "healthy":
        return assess(make_evidence())
    scans = (
        ScanResult(scanner="bandit", findings=(FINDING,)),
        ScanResult(scanner="pip-audit", skipped_reason="advisory database unreachable"),
    )
    return assess(make_evidence(outcomes=(answer(), BAD), scans=scans, declared_signature=None))


def test_markdown_leads_with_the_verdict_and_lists_every_rule(report):
    text = render(report, Format.MARKDOWN)
    first = text.splitlines()[0]
    assert first == (
        f"### {'✅' if report.status == 'healthy' else '❌'} sandbench: `@t/m` 1.2.3 is "
        f"**{report.status.value}**"
    )
    for rule in report.rules:
        assert f"| `{rule.rule}` |" in text


def test_markdown_escapes_table_cells():
    ev = make_evidence(
        outcomes=(
            answer(),
            Outcome(
                violation=Violation(kind=ViolationKind.TRAP, message="a | b\nc"), usage=Usage()
            ),
        )
    )
    text = render(assess(ev), Format.MARKDOWN)
    assert "a \\| b c" in text


def test_critical_markdown_shows_findings_and_what_did_not_run(report):
    text = render(report, Format.MARKDOWN)
    if report.status == "critical":
        assert "| high | bandit | `B602` | app/handler.py:12 | shell=True |" in text
        assert "`findings`" in text
        assert "`scans-complete`" in text


def test_html_is_one_self_contained_page(report):
    page = render(report, Format.HTML)
    assert page.startswith("<!doctype html>")
    assert "<script" not in page
    assert "http://" not in page.replace("http://www.w3.org", "")
    # issue 16: the charts come from sandbench.charts (axes, ticks, threshold lines)
    assert 'aria-label="Latency per health call"' in page
    assert 'aria-label="Peak memory"' in page
    assert 'class="threshold"' in page
    assert f">{report.status.value}</span>" in page


def test_html_escapes_module_text():
    ev = make_evidence(
        outcomes=(
            answer(),
            Outcome(
                violation=Violation(kind=ViolationKind.TRAP, message="<script>alert(1)</script>"),
                usage=Usage(),
            ),
        )
    )
    page = render(assess(ev), Format.HTML)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_sarif_validates_against_the_official_schema(report):
    log = json.loads(render(report, Format.SARIF))
    jsonschema.validate(log, SARIF_SCHEMA)
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "sandbench"
    assert run["properties"]["status"] == report.status.value
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert all(result["ruleId"] in rule_ids for result in run["results"])


def test_sarif_locates_findings_and_levels_them_by_severity(report):
    results = json.loads(render(report, Format.SARIF))["runs"][0]["results"]
    if report.status == "healthy":
        assert results == []
        return
    finding = next(r for r in results if r["ruleId"] == "bandit/B602")
    assert finding["level"] == "error"
    location = finding["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "app/handler.py", "uriBaseId": "MODULEROOT"}
    assert location["region"] == {"startLine": 12}
    assert {r["ruleId"] for r in results} >= {"policy/limit-violations", "violation/cpu"}


def test_junit_has_a_case_per_rule_and_fails_the_failing_ones(report):
    root = ET.fromstring(render(report, Format.JUNIT).split("\n", 1)[1])  # noqa: S314 - our own output
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases if c.get("classname") == "sandbench.policy"] == [
        r.rule for r in report.rules
    ]
    failed = {
        c.get("name"): c.find("failure").get("type") for c in cases if c.find("failure") is not None
    }
    assert failed == {r.rule: r.status.value for r in report.rules if r.status != "healthy"}
    assert int(suite.get("failures")) == len(failed)
    assert int(suite.get("skipped")) == len(report.skipped)


@pytest.mark.parametrize("fmt", list(Format))
def test_rendering_is_pure_and_repeatable(report, fmt):
    assert render(report, fmt) == render(report, fmt)
