"""`sandbench scan` and `sandbench advisories` through click's runner: output and exit codes."""

from __future__ import annotations

import json

import jsonschema
import pytest
from click.testing import CliRunner

from sandbench.cli import cli
from tests.reports.test_formats import SARIF_SCHEMA
from tests.scanners.conftest import EXAMPLES, OSV


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env={"SANDBENCH_OSV_URL": "", **(env or {})})


def test_scan_json_carries_every_scanner_and_the_database(pyapp, advisory_store):
    result = invoke(
        "scan", str(pyapp.root), "--format", "json", "--advisory-db", str(advisory_store)
    )
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    scanners = [r["scanner"] for r in data["results"]]
    assert scanners == [
        "bandit",
        "pip-audit",
        "licenses",
        "capabilities",
        "manifest-lint",
        "malware",
        "coverage",
    ]
    assert all(r["skippedReason"] is None for r in data["results"])
    audit = data["results"][1]
    assert audit["database"]["kind"] == "local"
    assert "PYSEC-2018-28" in {f["ruleId"] for f in audit["findings"]}


def test_scan_sarif_validates_and_places_the_module_in_its_repository(pyapp, advisory_store):
    (pyapp.root.parent / ".git").mkdir()  # the module is the folder pyapp/ of a repository
    result = invoke(
        "scan", str(pyapp.root), "--format", "sarif", "--advisory-db", str(advisory_store)
    )
    assert result.exit_code == 1, result.output
    log = json.loads(result.output)
    jsonschema.validate(log, SARIF_SCHEMA)
    run = log["runs"][0]
    assert run["originalUriBaseIds"]["MODULEROOT"]["uriBaseId"] == "%SRCROOT%"
    assert run["originalUriBaseIds"]["MODULEROOT"]["uri"] == "pyapp/"
    (advisory,) = [r for r in run["results"] if r["ruleId"] == "pip-audit/PYSEC-2018-28"]
    place = advisory["locations"][0]["physicalLocation"]["artifactLocation"]
    assert place == {"uri": "requirements.txt", "uriBaseId": "MODULEROOT"}
    rule = next(r for r in run["tool"]["driver"]["rules"] if r["id"] == advisory["ruleId"])
    assert rule["properties"]["security-severity"] == "8.0"


def test_scan_text_says_what_was_found_and_which_database(pyapp, advisory_store):
    result = invoke("scan", str(pyapp.root), "--advisory-db", str(advisory_store))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("@tests/pyapp 0.3.0: scanned in ")
    assert any("database: local OSV store" in line and "2 records" in line for line in lines)
    assert any(line.startswith("high     PYSEC-2018-28") for line in lines)
    assert lines[-1].startswith("FAIL")


def test_no_advisory_database_fails_the_scan_and_says_so(tmp_path):
    result = invoke("scan", str(EXAMPLES / "vendas"), "--advisory-db", str(tmp_path / "none"))
    assert result.exit_code == 0, result.output  # vendas pins nothing: no database needed
    module = tmp_path / "m"
    module.mkdir()
    for name in ("module.json", "module.wasm"):
        (module / name).write_bytes((EXAMPLES / "vendas" / name).read_bytes())
    (module / "requirements.txt").write_text("requests==2.31.0\n")
    result = invoke("scan", str(module), "--advisory-db", str(tmp_path / "none"))
    assert result.exit_code == 1
    assert "pip-audit        0 findings  NOT DONE: no advisory database" in result.output


def test_clean_example_passes():
    result = invoke("scan", str(EXAMPLES / "hello"))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("PASS")


def test_baseline_then_pass(pyapp, advisory_store, tmp_path):
    base = tmp_path / "baseline.json"
    db = ["--advisory-db", str(advisory_store)]
    first = invoke("scan", str(pyapp.root), "--write-baseline", str(base), *db)
    assert first.exit_code == 1
    second = invoke("scan", str(pyapp.root), "--baseline", str(base), *db)
    assert second.exit_code == 0, second.output
    assert "findings suppressed" in second.output


def test_fail_on_and_policy(pyapp, advisory_store, tmp_path):
    db = ["--advisory-db", str(advisory_store)]
    assert invoke("scan", str(pyapp.root), "--fail-on", "critical", *db).exit_code == 0
    policy = tmp_path / "p.toml"
    policy.write_text('[[ignore]]\nrule = "B602"\n')
    result = invoke("scan", str(pyapp.root), "--policy", str(policy), *db)
    assert result.exit_code == 2
    assert result.output.strip() == f"sandbench: error: {policy}: ignore.0.reason: Field required"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan", "/nonexistent/module"], "sandbench: error: /nonexistent/module"),
        (
            ["scan", str(EXAMPLES / "hello"), "--baseline", "/nonexistent.json"],
            "cannot read the baseline",
        ),
        (["advisories", "import", "/nonexistent.zip"], "no such file or folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert message in result.output


def test_advisories_import_and_status(tmp_path):
    db = str(tmp_path / "store.sqlite")
    assert invoke("advisories", "status", "--db", db).exit_code == 1
    imported = invoke("advisories", "import", str(OSV), "--db", db)
    assert imported.exit_code == 0, imported.output
    assert imported.output.startswith("imported 2 records (2 left out): local OSV store")
    status = invoke("advisories", "status", env={"SANDBENCH_ADVISORY_DB": db})
    assert status.exit_code == 0
    assert "2 records, newest record 2023-11-08" in status.output


def test_a_continued_pin_is_read_so_no_database_fails_closed(tmp_path):
    # Issue 15: the hand-written parser dropped this line, and the scan passed with exit 0.
    module = tmp_path / "m"
    module.mkdir()
    for name in ("module.json", "module.wasm"):
        (module / name).write_bytes((EXAMPLES / "vendas" / name).read_bytes())
    (module / "requirements.txt").write_text("django==\\\n    2.2.0\n")
    result = invoke("scan", str(module), "--advisory-db", str(tmp_path / "none"))
    assert result.exit_code == 1
    assert "pip-audit        0 findings  NOT DONE: no advisory database" in result.output
    store = tmp_path / "corpus.sqlite"
    invoke("advisories", "import", str(OSV.parent / "depscan" / "osv"), "--db", str(store))
    result = invoke("scan", str(module), "--advisory-db", str(store))
    assert result.exit_code == 1
    assert "high     PYSEC-0000-CVE-2021-33203  requirements.txt:1  django 2.2.0" in result.output


def test_an_unreadable_line_fails_the_scan_naming_it(tmp_path):
    module = tmp_path / "m"
    module.mkdir()
    for name in ("module.json", "module.wasm"):
        (module / name).write_bytes((EXAMPLES / "vendas" / name).read_bytes())
    (module / "requirements.txt").write_text("-r ../../../etc/requirements.txt\n")
    result = invoke("scan", str(module), "--advisory-db", str(tmp_path / "none"))
    assert result.exit_code == 1
    assert "high     dependency-unreadable      requirements.txt:1" in result.output
    assert "leads out of the module folder; the dependency scan is not complete" in result.output


def test_scan_sarif_validates_and_carries_every_finding(pyapp, advisory_store, tmp_path):
    from tests.reports.test_formats import SARIF_SCHEMA

    out = tmp_path / "scan.sarif"
    db = ["--advisory-db", str(advisory_store)]
    result = invoke("scan", str(pyapp.root), "-f", "sarif", "-o", str(out), *db)
    assert result.exit_code == 1, result.output
    assert result.output == ""  # -o: the log goes to the file only
    log = json.loads(out.read_text())
    jsonschema.validate(log, SARIF_SCHEMA)
    run = log["runs"][0]
    as_json = json.loads(invoke("scan", str(pyapp.root), "-f", "json", *db).output)
    fingerprints = {f["fingerprint"] for r in as_json["results"] for f in r["findings"]}
    assert {r["partialFingerprints"]["sandbench/v1"] for r in run["results"]} == fingerprints
    assert "pip-audit/PYSEC-2018-28" in {r["ruleId"] for r in run["results"]}
    assert run["properties"] == {"moduleId": "@tests/pyapp", "version": "0.3.0"}


def test_the_old_scan_policy_variable_still_works_with_a_deprecation_line(pyapp, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('fail_on = "critical"\n[[ignore]]\nrule = "B602"\n')  # no reason
    result = invoke("scan", str(pyapp.root), env={"SANDBENCH_SCAN_POLICY": str(policy)})
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert lines[0].startswith("sandbench: warning: SANDBENCH_SCAN_POLICY is deprecated")
    assert lines[1] == f"sandbench: error: {policy}: ignore.0.reason: Field required"
    # SANDBENCH_POLICY is the one variable, and wins over the old one.
    both = {"SANDBENCH_SCAN_POLICY": str(policy), "SANDBENCH_POLICY": str(tmp_path / "none")}
    result = invoke("scan", str(pyapp.root), env=both)
    assert result.output.startswith(f"sandbench: error: {tmp_path / 'none'}: cannot be read")
