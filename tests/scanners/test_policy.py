"""Policy files, ignores with reasons and expiry, baselines, and the concurrent runner."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest

from sandbench.errors import PolicyError, ScanInputError
from sandbench.policy import load_policy
from sandbench.scanners import (
    Ignore,
    ManifestLintScanner,
    ScanPolicy,
    ScanResult,
    Severity,
    load_baseline,
    scan_all,
    write_baseline,
)
from sandbench.scanners.policy import apply_suppressions

TODAY = date(2026, 6, 1)


@pytest.fixture
def loose(make_package):
    return make_package(csp={"script-src": "'unsafe-inline'"}, permissions=["storage:read:*"])


def _policy_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def test_policy_file_round_trip(tmp_path):
    full = load_policy(
        _policy_file(
            tmp_path,
            'fail_on = "medium"\nbandit_skips = ["B101"]\n[licenses]\nallow = ["MIT"]\n'
            '[[ignore]]\nrule = "B602"\npath = "a.py"\nreason = "constant"\nexpires = 2027-01-31\n'
            '[ceilings]\nmemory = "64MiB"\n',
        )
    )
    policy = full.scan
    assert policy.ceilings.memory_bytes == 64 * 1024 * 1024
    assert policy.fail_on is Severity.MEDIUM
    assert policy.licenses.allow == ("MIT",)
    assert policy.ignore == (
        Ignore(rule="B602", path="a.py", reason="constant", expires=date(2027, 1, 31)),
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[[ignore]]\nrule = "B602"\n', "ignore.0.reason: Field required"),
        (
            '[[ignore]]\nrule = "B602"\nreason = ""\n',
            "ignore.0.reason: String should have at least 1",
        ),
        ('fail_on = "severe"\n', "fail_on: Input should be"),
        ("colour = 1\n", "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_policies_name_the_field(tmp_path, text, problem):
    with pytest.raises(PolicyError) as caught:
        load_policy(_policy_file(tmp_path, text))
    assert any(p.startswith(problem) for p in caught.value.problems)


def test_unreadable_policy_and_baseline_files(tmp_path):
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(_policy_file(tmp_path, "fail_on = \n"))
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policy(tmp_path / "missing.toml")
    (tmp_path / "b.json").write_text("[1, 2]")
    with pytest.raises(ScanInputError, match="write one with --write-baseline"):
        load_baseline(tmp_path / "b.json")
    (tmp_path / "b.json").write_text("{")
    with pytest.raises(ScanInputError, match="not JSON"):
        load_baseline(tmp_path / "b.json")


def test_ignores_need_to_match_and_stop_at_their_expiry(loose):
    [result] = scan_all(loose, [ManifestLintScanner()]).results
    findings = result.findings
    assert {f.rule_id for f in findings} == {"csp-unsafe-inline", "wildcard-permission"}
    ignore = Ignore(rule="csp-unsafe-inline", reason="legacy widget", expires=date(2026, 7, 1))
    kept, gone = apply_suppressions(findings, (ignore,), frozenset(), TODAY)
    assert [f.rule_id for f in kept] == ["wildcard-permission"]
    assert [(s.by, s.reason) for s in gone] == [("ignore", "legacy widget")]
    kept, gone = apply_suppressions(findings, (ignore,), frozenset(), date(2026, 7, 1))
    assert (len(kept), gone) == (2, ())
    elsewhere = Ignore(rule="csp-unsafe-inline", path="other.json", reason="r")
    assert apply_suppressions(findings, (elsewhere,), frozenset(), TODAY)[1] == ()
    by_print = Ignore(rule=findings[0].fingerprint, reason="this one only")
    assert len(apply_suppressions(findings, (by_print,), frozenset(), TODAY)[1]) == 1


def test_expired_ignores_are_reported(loose):
    expired = Ignore(rule="csp-unsafe-inline", reason="r", expires=date(2026, 1, 1))
    report = scan_all(loose, [ManifestLintScanner()], ScanPolicy(ignore=(expired,)), today=TODAY)
    assert report.expired_ignores == (expired,)
    assert "csp-unsafe-inline" in {f.rule_id for f in report.findings}


def test_baseline_round_trip(loose, tmp_path):
    first = scan_all(loose, [ManifestLintScanner()])
    assert first.failed
    write_baseline(tmp_path / "baseline.json", list(first.findings))
    accepted = load_baseline(tmp_path / "baseline.json")
    again = scan_all(loose, [ManifestLintScanner()], baseline=accepted)
    assert again.findings == ()
    assert {s.by for s in again.suppressed} == {"baseline"}
    assert not again.failed


class _Meeting:
    """A scanner that only returns once all of its siblings are running at the same time."""

    def __init__(self, name: str, barrier: threading.Barrier) -> None:
        self.name, self.barrier = name, barrier

    def scan(self, package):
        self.barrier.wait(timeout=10)
        return ScanResult(scanner=self.name, summary="met")


class _Broken:
    name = "broken"

    def scan(self, package):
        raise RuntimeError("bug in a scanner")


def test_scanners_run_concurrently_and_a_broken_one_is_not_done(loose):
    barrier = threading.Barrier(3)
    scanners = [_Meeting("a", barrier), _Meeting("b", barrier), _Meeting("c", barrier), _Broken()]
    report = scan_all(loose, scanners)
    assert [r.summary for r in report.results[:3]] == ["met", "met", "met"]
    assert [r.scanner for r in report.skipped] == ["broken"]
    assert report.skipped[0].skipped_reason == "RuntimeError: bug in a scanner"
    assert report.failed
    assert all(r.elapsed_ms > 0 for r in report.results)


def test_threshold(loose):
    lint = [ManifestLintScanner()]
    assert scan_all(loose, lint, ScanPolicy(fail_on=Severity.HIGH)).failed
    assert not scan_all(loose, lint, ScanPolicy(fail_on=Severity.CRITICAL)).failed
