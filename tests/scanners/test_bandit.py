"""bandit for real on the fixture module: mapping, nosec, skips, fingerprints."""

from __future__ import annotations

import pytest

from sandbench.scanners import BanditScanner, Confidence, Severity
from sandbench.scanners.bandit import map_severity


def test_findings_on_the_fixture_module(pyapp):
    result = BanditScanner().scan(pyapp)
    assert result.skipped_reason is None
    found = {(f.rule_id, f.line) for f in result.findings}
    assert found == {("B404", 4), ("B602", 9), ("B324", 13), ("B506", 17)}
    b602 = next(f for f in result.findings if f.rule_id == "B602")
    assert (b602.severity, b602.confidence) == (Severity.HIGH, Confidence.HIGH)
    assert str(b602.path) == "app/build_data.py"
    assert b602.remediation is not None
    assert "bandit.readthedocs.io" in b602.remediation
    assert result.summary == "1 Python files"


def test_nosec_is_respected(pyapp):
    # Line 21 has the same shell=True call as line 9, marked `# nosec B602`.
    lines = [f.line for f in BanditScanner().scan(pyapp).findings if f.rule_id == "B602"]
    assert lines == [9]


def test_skips_are_configurable(pyapp):
    rules = {f.rule_id for f in BanditScanner(skips=("B404", "B324")).scan(pyapp).findings}
    assert rules == {"B602", "B506"}


def test_fingerprints_survive_moving_code(pyapp):
    before = {f.rule_id: f.fingerprint for f in BanditScanner().scan(pyapp).findings}
    source = pyapp.root / "app" / "build_data.py"
    source.write_text("# moved\n\n" + source.read_text())
    after = BanditScanner().scan(pyapp).findings
    assert {f.rule_id: f.fingerprint for f in after} == before
    assert {f.line for f in after if f.rule_id == "B602"} == {11}


def test_no_python_sources_is_not_a_failure(make_package):
    result = BanditScanner().scan(make_package())
    assert (result.findings, result.skipped_reason, result.summary) == (
        (),
        None,
        "no Python sources",
    )


def test_unparsable_sources_are_counted(make_package):
    result = BanditScanner().scan(make_package({"a.py": "def (:\n", "b.py": "x = 1\n"}))
    assert result.skipped_reason is None
    assert result.summary == "2 Python files; bandit could not parse 1 files"


@pytest.mark.parametrize(
    ("severity", "confidence", "expected"),
    [
        ("HIGH", "HIGH", (Severity.HIGH, Confidence.HIGH)),
        ("HIGH", "MEDIUM", (Severity.HIGH, Confidence.MEDIUM)),
        ("HIGH", "LOW", (Severity.MEDIUM, Confidence.LOW)),
        ("MEDIUM", "LOW", (Severity.LOW, Confidence.LOW)),
        ("LOW", "LOW", (Severity.INFO, Confidence.LOW)),
        ("UNDEFINED", "UNDEFINED", (Severity.INFO, Confidence.LOW)),
    ],
)
def test_severity_and_confidence_mapping(severity, confidence, expected):
    assert map_severity(severity, confidence) == expected
