"""The Finding model and fingerprints."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sandbench.scanners import Finding, MalwareScanner, Severity, fingerprint
from sandbench.scanners.malware import scan_source


def test_severity_order_and_threshold():
    assert [s.rank for s in Severity] == [0, 1, 2, 3, 4]
    assert Severity.CRITICAL.at_least(Severity.HIGH)
    assert Severity.HIGH.at_least(Severity.HIGH)
    assert not Severity.MEDIUM.at_least(Severity.HIGH)


def test_fingerprint_ignores_whitespace_but_not_rule_path_or_code():
    base = fingerprint("bandit", "B602", "a.py", "run(x,  shell=True)")
    assert base == fingerprint("bandit", "B602", "a.py", "   run(x, shell=True)\n")
    assert base != fingerprint("bandit", "B603", "a.py", "run(x, shell=True)")
    assert base != fingerprint("bandit", "B602", "b.py", "run(x, shell=True)")
    assert base != fingerprint("bandit", "B602", "a.py", "run(y, shell=True)")
    assert len(base) == 32


def test_fingerprint_survives_moving_the_code_down_the_file():
    code = "import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n"
    before = scan_source(code, "x.py")
    after = scan_source("# a comment\n\n\n" + code, "x.py")
    assert [f.line for f in before] == [2]
    assert [f.line for f in after] == [5]
    assert [f.fingerprint for f in before] == [f.fingerprint for f in after]


def test_finding_is_frozen_and_strict():
    finding = Finding(scanner="s", rule_id="r", severity=Severity.LOW, message="m", fingerprint="f")
    assert finding.location == "-"
    with pytest.raises(ValidationError):
        Finding(scanner="s", rule_id="r", severity="low", message="m", fingerprint="f", x=1)
    with pytest.raises(ValidationError):
        finding.message = "other"  # type: ignore[misc]
    located = finding.model_copy(update={"path": Path("a.py"), "line": 3})
    assert located.location == "a.py:3"
    assert MalwareScanner.name == "malware"
