"""`gate()` and `sandbench gate`: folders and archives, scanners, reproducible verdicts."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

import sandbench
from sandbench.cli import cli
from sandbench.manifests import load
from sandbench.manifests.archive import opened
from sandbench.reports import Status
from sandbench.scanners import Finding, ScanResult, Severity

from .conftest import EXAMPLES, problems


class FixedScanner:
    """A scanner double that reports the same findings every time."""

    def __init__(self, name: str, findings=(), error: Exception | None = None) -> None:
        self.name = name
        self.findings = tuple(findings)
        self.error = error

    def scan(self, package):
        if self.error is not None:
            raise self.error
        return ScanResult(scanner=self.name, findings=self.findings)


def pack(folder: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


def test_gate_on_a_folder_and_on_its_archive_agree(backend, tmp_path):
    archive = pack(EXAMPLES / "vendas", tmp_path / "vendas.tar.gz")
    from_folder = sandbench.gate(EXAMPLES / "vendas", backend=backend, scanners=(), load_test=None)
    from_archive = sandbench.gate(archive, backend=backend, scanners=(), load_test=None)
    assert from_folder.status is from_archive.status is Status.HEALTHY
    assert from_folder.signature == from_archive.signature
    assert from_archive.signature.status == "valid"


def test_two_runs_give_the_same_verdict_and_findings(backend):
    finding = Finding(
        scanner="lint", rule_id="L1", severity=Severity.HIGH, message="m", fingerprint="f1"
    )
    scanners = [FixedScanner("lint", [finding])]
    first = sandbench.gate(EXAMPLES / "hello", backend=backend, scanners=scanners, load_test=None)
    second = sandbench.gate(EXAMPLES / "hello", backend=backend, scanners=scanners, load_test=None)
    assert first.status is second.status is Status.CRITICAL
    assert first.reasons == second.reasons == ["findings"]
    assert first.findings == second.findings
    assert [r.model_dump(exclude={"message"}) for r in first.rules] == [
        r.model_dump(exclude={"message"}) for r in second.rules
    ]


def test_a_scanner_that_crashes_is_reported_not_raised(backend):
    scanners = [FixedScanner("pip-audit", error=RuntimeError("database locked"))]
    report = sandbench.gate(EXAMPLES / "hello", backend=backend, scanners=scanners, load_test=None)
    assert report.status is Status.CRITICAL  # the dependency scan is required by the policy
    assert report.scans[0].skipped_reason == "RuntimeError: database locked"
    assert "scans-complete" in report.reasons


def test_gate_cli_writes_every_format(tmp_path, cache_dir):
    out = tmp_path / "reports"
    args = [
        "gate",
        str(EXAMPLES / "hello"),
        "--output-dir",
        str(out),
        "--cache-dir",
        str(cache_dir),
    ]
    for fmt in ("json", "markdown", "html", "sarif", "junit", "text", "cyclonedx"):
        args += ["--format", fmt]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "report.cdx.json",
        "report.html",
        "report.json",
        "report.md",
        "report.sarif",
        "report.txt",
        "report.xml",
    ]
    assert json.loads((out / "report.json").read_text())["status"] == "healthy"
    assert result.stdout.splitlines()[-1] == "@examples/hello 1.0.0: HEALTHY"
    sbom = (out / "report.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(sbom) is None
    entry = next(c for c in json.loads(sbom)["components"] if c["bom-ref"] == "entry")
    wasm = (EXAMPLES / "hello" / entry["name"]).read_bytes()
    assert entry["hashes"][0]["content"] == hashlib.sha256(wasm).hexdigest()
    sarif = json.loads((out / "report.sarif").read_text())
    base = sarif["runs"][0]["originalUriBaseIds"]["MODULEROOT"]
    assert base.get("uri") in (None, "examples/modules/hello/")


def test_several_formats_without_an_output_dir_is_a_usage_error():
    result = CliRunner().invoke(
        cli, ["gate", str(EXAMPLES / "hello"), "--format", "json", "--format", "sarif"]
    )
    assert result.exit_code == 2
    assert problems(result.output) == [
        "sandbench: error: more than one --format needs --output-dir"
    ]


def test_gate_fails_a_hostile_module_with_exit_1(cache_dir):
    result = CliRunner().invoke(
        cli, ["gate", str(EXAMPLES / "hostile" / "spin-start"), "--cache-dir", str(cache_dir)]
    )
    assert result.exit_code == 1
    assert result.stdout.startswith("@examples/hostile-spin-start 1.0.0: CRITICAL")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../../outside.txt", "path leaves the archive through '..'"),
        ("/etc/cron.d/evil", "absolute path"),
    ],
)
def test_gate_refuses_a_hostile_archive_in_one_line(tmp_path, name, problem):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("module.json", "{}")
        zf.writestr(name, "x")
    result = CliRunner().invoke(cli, ["gate", str(archive)])
    assert result.exit_code == 2
    assert problems(result.output) == [
        f"sandbench: error: {archive}: entry {name!r}: {problem}; refusing to extract"
    ]


def test_gate_with_a_policy_file(tmp_path, cache_dir):
    policy = tmp_path / "policy.toml"
    policy.write_text('unsigned = "critical"\n')
    module = tmp_path / "unsigned"
    module.mkdir()
    (module / "module.wat").write_text((EXAMPLES / "hello" / "module.wat").read_text())
    manifest = json.loads((EXAMPLES / "hello" / "module.json").read_text())
    manifest.pop("signature")
    (module / "module.json").write_text(json.dumps(manifest))
    args = [
        "gate",
        str(module),
        "--policy",
        str(policy),
        "--format",
        "json",
        "--cache-dir",
        str(cache_dir),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["reasons"] == ["signature"]
    assert data["tool"]["policy"] == str(policy)
    bad = tmp_path / "bad.toml"
    bad.write_text("max_load_ms = 'soon'")
    result = CliRunner().invoke(cli, ["gate", str(module), "--policy", str(bad)])
    assert result.exit_code == 2
    assert result.output.startswith(f"sandbench: error: {bad}: max_load_ms: ")


def test_gate_archive_leaves_nothing_behind(tmp_path, backend, monkeypatch):
    archive = pack(EXAMPLES / "hello", tmp_path / "hello.tgz")
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))  # not shared with other runs
    sandbench.gate(archive, backend=backend, scanners=(), load_test=None)
    assert list(private.iterdir()) == []


def test_the_package_digest_ignores_where_the_archive_was_extracted(tmp_path):
    archive = pack(EXAMPLES / "vendas", tmp_path / "v.tgz")
    with opened(archive) as root:
        assert load(root).digest == load(EXAMPLES / "vendas").digest


def test_gate_load_tests_the_health_request_through_the_gateway(backend):
    report = sandbench.gate(EXAMPLES / "hello-reactor", backend=backend, scanners=())
    test = report.load_test
    assert test is not None
    assert test.requests == 150  # 50/s for 3 s (5 users, one every 0.1 s each), open model
    assert test.errors == 0
    assert test.latency_ms.n == test.requests
    rule = next(r for r in report.rules if r.rule == "load-test")
    assert rule.status is Status.HEALTHY
    assert "from intended send times" in rule.message
    assert not any(s.check_id == "load-test" for s in report.skipped)


def test_an_unreadable_dependency_line_fails_the_gate_closed(backend, tmp_path):
    # Issue 15: a line the dependency reader cannot read used to be dropped, and the gate passed.
    module = tmp_path / "hello"
    shutil.copytree(EXAMPLES / "hello", module)
    (module / "requirements.txt").write_text("-r ../outside.txt\n")
    report = sandbench.gate(module, backend=backend, load_test=None)
    assert report.status is Status.CRITICAL
    assert "scans-complete" in report.reasons
    [finding] = [f for f in report.findings if f.rule_id == "dependency-unreadable"]
    assert (finding.severity, str(finding.path)) == ("high", "requirements.txt")
