"""Recall and precision of the dependency scan over a corpus written in every syntax pip,
PEP 621, PEP 751 and setuptools accept (tests/assets/depscan), against an independent
evaluation of the OSV records.

The expected advisories are derived here from each module's ground-truth pins
(corpus.toml) and the OSV records (tests/assets/depscan/osv) with packaging.version alone:
not with pip-audit, not with sandbench's advisory store or its range code. Run with `-s`
to print the table for the closing note.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from sandbench.scanners import PipAuditScanner, import_export

from .conftest import ASSETS

CORPUS = ASSETS / "depscan"
CASES: dict[str, dict[str, Any]] = tomllib.loads((CORPUS / "corpus.toml").read_text())
RECORDS = [json.loads(p.read_text()) for p in sorted((CORPUS / "osv" / "PyPI").glob("*.json"))]
AFFECTED = re.compile(r"^(?P<name>\S+) (?P<version>\S+) is affected by (?P<id>\S+)")

Hit = tuple[str, str, str, str]  # case, advisory id, name, version


def _in_range(version: Version, events: list[dict[str, str]]) -> bool:
    """OSV ECOSYSTEM range as intervals: [introduced, next fixed) or [introduced, last_affected]."""
    opens = sorted(Version(e["introduced"]) for e in events if "introduced" in e)
    fixes = sorted(Version(e["fixed"]) for e in events if "fixed" in e)
    lasts = sorted(Version(e["last_affected"]) for e in events if "last_affected" in e)
    for start in opens:
        if version < start:
            continue
        closed = any(start < f <= version for f in fixes) or any(
            start <= last < version for last in lasts
        )
        if not closed:
            return True
    return False


def expected_hits(case: str, pins: list[str]) -> set[Hit]:
    hits: set[Hit] = set()
    for pin in pins:
        name, version = pin.split("==")
        for record in RECORDS:
            for affected in record["affected"]:
                package = affected["package"]
                if package["ecosystem"] != "PyPI" or canonicalize_name(package["name"]) != name:
                    continue
                ranges = [r for r in affected.get("ranges", []) if r["type"] == "ECOSYSTEM"]
                listed = version in affected.get("versions", [])
                if listed or any(_in_range(Version(version), r["events"]) for r in ranges):
                    hits.add((case, record["id"], name, version))
    return hits


@pytest.fixture(scope="module")
def corpus_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("corpus") / "advisories.sqlite"
    import_export(CORPUS / "osv", store)
    return store


@pytest.fixture(scope="module")
def scans(corpus_store, tmp_path_factory):
    """Each corpus module scanned once: case -> ScanResult."""
    from sandbench.manifests import load

    from .conftest import HELLO_WAT

    results = {}
    for case in CASES:
        root = tmp_path_factory.mktemp(case)
        source = CORPUS / "modules" / case
        for file in sorted(p for p in source.rglob("*") if p.is_file()):
            target = root / file.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.read_bytes())
        (root / "module.wat").write_text(HELLO_WAT)
        manifest = {
            "name": f"corpus-{case}",
            "version": "1.0.0",
            "license": "MIT",
            "runtime": {"kind": "wasm", "entry": "module.wat", "abi": "command"},
        }
        (root / "module.json").write_text(json.dumps(manifest))
        scanner = PipAuditScanner(store=corpus_store, max_age_days=None)
        results[case] = scanner.scan(load(root))
    return results


def found_hits(case: str, result) -> set[Hit]:
    hits: set[Hit] = set()
    for finding in result.findings:
        match = AFFECTED.match(finding.message)
        if match:
            assert match["id"] == finding.rule_id
            hits.add((case, finding.rule_id, match["name"], match["version"]))
    return hits


def test_every_case_has_the_ground_truth_and_the_records_cover_it():
    assert set(CASES) == {p.name for p in (CORPUS / "modules").iterdir()}
    vulnerable = set().union(*(expected_hits(c, v["installs"]) for c, v in CASES.items()))
    assert len(vulnerable) >= 20  # the corpus exercises the advisories, not only clean pins
    assert expected_hits("clean", CASES["clean"]["installs"]) == set()


def test_recall_and_precision_are_100_percent_in_every_syntax(scans, capsys):
    rows, tp_all, exp_all, found_all = [], 0, 0, 0
    for case, truth in CASES.items():
        expected = expected_hits(case, truth["installs"])
        found = found_hits(case, scans[case])
        tp = len(expected & found)
        tp_all, exp_all, found_all = tp_all + tp, exp_all + len(expected), found_all + len(found)
        rows.append(f"| {case} | {truth['syntax']} | {len(expected)} | {len(found)} | {tp} |")
        assert found == expected, case
    recall, precision = tp_all / exp_all, tp_all / found_all
    with capsys.disabled():
        print("\n| case | syntax | expected | reported | both |\n|---|---|---|---|---|")
        print("\n".join(rows))
        print(f"recall {recall:.1%} ({tp_all}/{exp_all}), precision {precision:.1%} "
              f"({tp_all}/{found_all})")  # fmt: skip
    assert recall == precision == 1.0


@pytest.mark.parametrize("case", list(CASES))
def test_what_cannot_be_audited_is_a_finding_and_unreadable_fails_closed(scans, case):
    truth, result = CASES[case], scans[case]
    rules = [f.rule_id for f in result.findings]
    assert rules.count("dependency-direct-reference") == truth.get("direct", 0)
    assert rules.count("dependency-unpinned") == truth.get("unpinned", 0)
    assert rules.count("dependency-unreadable") == truth.get("unreadable", 0)
    if case in ("markers", "pylock"):  # one win32-only pin each
        assert result.summary.endswith("; 1 left out by markers no target matches")
    if truth.get("unreadable"):
        assert result.skipped_reason is not None
        assert "the dependency scan is not complete" in result.skipped_reason
    else:
        assert result.skipped_reason is None, result.skipped_reason
