"""The module's parts as data, the CycloneDX SBOM built from them, and SARIF for GitHub."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from sandbench.manifests import load
from sandbench.reports import Format, assess, render
from sandbench.scanners import (
    Confidence,
    Finding,
    ImagePackages,
    ModuleParts,
    PartAdvisory,
    PartPackage,
    ScanResult,
    Severity,
    module_parts,
    source_root,
)

from .conftest import make_evidence
from .test_formats import SARIF_SCHEMA

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "modules"
ADVISORY = Finding(
    scanner="pip-audit",
    rule_id="PYSEC-2021-1",
    severity=Severity.HIGH,
    confidence=Confidence.HIGH,
    message="django 2.2.0 is affected by PYSEC-2021-1 (CVE-2021-3281, GHSA-fvgf-6h6h-3322)",
    path=Path("requirements.txt"),
    line=1,
    fingerprint="f1",
    remediation="upgrade django to 2.2.18 or later",
)


def _module(tmp_path: Path) -> Path:
    """The hello example with a declared pin and a bundled distribution."""
    root = tmp_path / "repo" / "modules" / "hello"
    shutil.copytree(EXAMPLES / "hello", root)
    (root / "requirements.txt").write_text("django==2.2.0\nrequests>=2\n")
    dist = root / "vendor" / "six-1.16.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: Six\nVersion: 1.16.0\n\n")
    (tmp_path / "repo" / ".git").mkdir()
    return root


def test_parts_hold_the_entry_digest_packages_and_advisories(tmp_path):
    root = _module(tmp_path)
    package = load(root)
    image = ImagePackages(image="img", packages=(("PyYAML", "6.0", "usr/lib/x.dist-info"),))
    parts = module_parts(package, image, [ScanResult(scanner="pip-audit", findings=(ADVISORY,))])
    wasm = package.entry_path.read_bytes()
    assert parts.entry == package.manifest.runtime.entry
    assert parts.entry_sha256 == hashlib.sha256(wasm).hexdigest()
    assert [(p.name, p.version, p.origin) for p in parts.packages] == [
        ("django", "2.2.0", "declared"),
        ("requests", None, "declared"),
        ("six", "1.16.0", "bundled"),
        ("pyyaml", "6.0", "image"),
    ]
    assert parts.advisories == [
        PartAdvisory(
            id="PYSEC-2021-1",
            package="django",
            version="2.2.0",
            severity="high",
            aliases=["CVE-2021-3281", "GHSA-fvgf-6h6h-3322"],
            remediation="upgrade django to 2.2.18 or later",
        )
    ]
    assert parts.source_root == "modules/hello"


def test_source_root_is_none_outside_a_work_tree_and_empty_at_its_top(tmp_path):
    assert source_root(tmp_path) is None
    (tmp_path / ".git").mkdir()
    assert source_root(tmp_path) == ""


PARTS = ModuleParts(
    runtime="wasm",
    entry="module.wasm",
    entry_sha256="cd" * 32,
    packages=[
        PartPackage(name="django", version="2.2.0", origin="declared", path="requirements.txt"),
        PartPackage(name="requests", origin="declared", path="requirements.txt"),
        PartPackage(name="django", version="2.2.0", origin="image", path="usr/lib/d.dist-info"),
    ],
    advisories=[
        PartAdvisory(id="PYSEC-2021-1", package="django", version="2.2.0", severity="high")
    ],
    source_root="modules/hello",
)


def test_cyclonedx_sbom_validates_and_lists_every_part():
    report = assess(make_evidence(parts=PARTS))
    text = render(report, Format.CYCLONEDX)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert bom["specVersion"] == "1.6"
    assert bom["metadata"]["component"]["name"] == "@t/m"
    components = {c["bom-ref"]: c for c in bom["components"]}
    assert components["entry"]["hashes"] == [{"alg": "SHA-256", "content": "cd" * 32}]
    assert components["declared:django@2.2.0"]["purl"] == "pkg:pypi/django@2.2.0"
    assert "declared:requests@unpinned" in components
    assert "image:django@2.2.0" in components
    (vuln,) = bom["vulnerabilities"]
    assert vuln["id"] == "PYSEC-2021-1"
    assert vuln["analysis"]["state"] == "in_triage"
    assert sorted(a["ref"] for a in vuln["affects"]) == [
        "declared:django@2.2.0",
        "image:django@2.2.0",
    ]
    (deps,) = [d for d in bom["dependencies"] if d["ref"] == "module"]
    assert len(deps["dependsOn"]) == 4
    assert render(report, Format.CYCLONEDX) == text  # deterministic


def test_cyclonedx_of_a_report_without_parts_is_still_valid():
    text = render(assess(make_evidence()), Format.CYCLONEDX)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None


FINDING = Finding(
    scanner="malware",
    rule_id="MAL001",
    severity=Severity.CRITICAL,
    message="exec() of a decoded payload",
    path=Path("app/x.py"),
    line=3,
    fingerprint="m1",
)


@pytest.mark.parametrize("root", ["modules/hello", "", None])
def test_sarif_places_the_module_root_in_the_repository(root):
    parts = PARTS.model_copy(update={"source_root": root})
    scans = (ScanResult(scanner="malware", findings=(FINDING,)),)
    log = json.loads(render(assess(make_evidence(parts=parts, scans=scans)), Format.SARIF))
    jsonschema.validate(log, SARIF_SCHEMA)
    run = log["runs"][0]
    base = run["originalUriBaseIds"]["MODULEROOT"]
    if root is None:
        assert "uri" not in base
    else:
        assert base["uri"] == (f"{root}/" if root else "")
        assert base["uriBaseId"] == "%SRCROOT%"
    (result,) = [r for r in run["results"] if r["ruleId"] == "malware/MAL001"]
    location = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": "app/x.py", "uriBaseId": "MODULEROOT"}


def test_every_sarif_rule_has_help_a_uri_tags_and_a_security_severity():
    scans = (
        ScanResult(scanner="malware", findings=(FINDING,)),
        ScanResult(scanner="pip-audit", findings=(ADVISORY,)),
    )
    log = json.loads(render(assess(make_evidence(parts=PARTS, scans=scans)), Format.SARIF))
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert {"malware/MAL001", "pip-audit/PYSEC-2021-1"} <= set(rules)
    for rule in rules.values():
        assert rule["help"]["text"]
        assert rule["helpUri"].startswith("https://")
        assert "security" in rule["properties"]["tags"]
        score = rule["properties"]["security-severity"]
        assert isinstance(score, str)
        assert 0.0 <= float(score) <= 10.0
    assert rules["malware/MAL001"]["properties"]["security-severity"] == "9.5"
    assert rules["pip-audit/PYSEC-2021-1"]["properties"]["security-severity"] == "8.0"
    assert rules["pip-audit/PYSEC-2021-1"]["helpUri"].endswith("/PYSEC-2021-1")
