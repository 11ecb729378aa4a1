"""The gate audits what a container module's image installed, with the real pip-audit, and
fails closed when the image cannot be read."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

import sandbench
from sandbench.errors import BackendUnavailable
from sandbench.manifests import load
from sandbench.reports import Format, HealthReport, Status, render
from sandbench.sandbox import FakeBackend, Outcome, Response, Usage
from sandbench.sandbox.container import PYTHON_IMAGE, connect
from sandbench.sandbox.container.images import module_image_tag
from sandbench.scanners import import_export
from tests.sandbox.test_container import write_module

OSV = Path(__file__).resolve().parent / "assets" / "osv"
SITE = "/usr/local/lib/python3.11/site-packages"
OK = Outcome(response=Response(status=200, body=b"ok"), usage=Usage(wall_ms=1, cpu_ms=1))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local OSV store holding PYSEC-2018-28 (requests < 2.20.0) and PYSEC-2019-132."""
    path = tmp_path_factory.mktemp("advisories") / "advisories.sqlite"
    import_export(OSV, path)
    return path


def pip_audit(report: HealthReport):
    return next(s for s in report.scans if s.scanner == "pip-audit")


def test_no_engine_makes_the_dependency_scan_not_done(tmp_path, store, monkeypatch):
    root = write_module(tmp_path / "m", "return {}")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    report = sandbench.gate(root, backend=FakeBackend([OK]), advisory_store=store, load_test=None)
    reason = pip_audit(report).skipped_reason or ""
    assert reason.startswith(f"the packages installed in image {PYTHON_IMAGE} could not be listed")
    assert "no Docker Engine answers" in reason
    assert report.status is Status.CRITICAL
    assert "scans-complete" in report.reasons


def test_a_wasm_module_has_no_image_to_list(store, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")  # never asked
    examples = Path(__file__).resolve().parent.parent / "examples" / "modules"
    report = sandbench.gate(
        examples / "hello", backend=FakeBackend([OK]), advisory_store=store, load_test=None
    )
    assert pip_audit(report).skipped_reason is None


@pytest.fixture
def engine() -> None:
    try:
        connect().close()
    except BackendUnavailable as exc:
        pytest.skip(f"no Docker Engine: {exc}")


@pytest.mark.docker
def test_a_gate_of_a_module_whose_image_is_missing_fails_with_the_reason(engine, tmp_path, store):
    root = write_module(
        tmp_path / "m", "return {}", runtime={"kind": "container", "image": "sandbench/absent:none"}
    )
    report = sandbench.gate(root, advisory_store=store, load_test=None)
    assert report.status is Status.CRITICAL
    assert "scans-complete" in report.reasons
    assert pip_audit(report).skipped_reason == (
        "the packages installed in image sandbench/absent:none could not be listed: "
        "image sandbench/absent:none is not in the Docker Engine"
    )


@pytest.mark.docker
def test_the_gate_builds_the_module_image_and_flags_its_old_requests(engine, tmp_path, store):
    root = write_module(
        tmp_path / "m",
        'return {"ok": True}',
        runtime={"kind": "container", "build": ".", "port": 9000},
    )
    (root / "METADATA").write_text("Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\n")
    (root / "Dockerfile").write_text(
        f"FROM {PYTHON_IMAGE}\nCOPY METADATA {SITE}/requests-2.19.0.dist-info/METADATA\n"
        'COPY server.py /srv/server.py\nCMD ["python3", "/srv/server.py"]\n'
    )
    tag = module_image_tag(load(root))
    try:
        report = sandbench.gate(root, advisory_store=store, load_test=None)
    finally:
        client = connect()
        with contextlib.suppress(Exception):
            client.images.remove(tag, force=True)
        client.close()
    scan = pip_audit(report)
    assert scan.skipped_reason is None
    [finding] = [f for f in report.findings if f.rule_id == "PYSEC-2018-28"]
    assert str(finding.path) == f"{SITE}/requests-2.19.0.dist-info"
    assert f"installed in image {tag}" in finding.message
    assert finding.remediation == "upgrade requests to 2.20.0 or later in the image"
    assert scan.summary == f"0 pinned dependencies audited, with 1 distributions installed in {tag}"
    # the SBOM lists the image's package and ties the advisory to it
    assert report.parts is not None
    assert report.parts.runtime == "container"
    image = [p for p in report.parts.packages if p.origin == "image"]
    assert [(p.name, p.version) for p in image] == [("requests", "2.19.0")]
    assert [(a.id, a.package, a.version) for a in report.parts.advisories] == [
        ("PYSEC-2018-28", "requests", "2.19.0")
    ]
    sbom = render(report, Format.CYCLONEDX)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(sbom) is None
