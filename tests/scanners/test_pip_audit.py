"""pip-audit for real, against the loopback OSV server over real advisory records; fail closed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

from sandbench.scanners import (
    AdvisoryStore,
    ImagePackages,
    PipAuditScanner,
    Severity,
    import_export,
    osv_server,
)
from sandbench.scanners._support.dependencies import declared_dependencies
from tests.scanners.conftest import OSV


def test_flags_requests_below_2_20_with_the_fix_and_the_database(pyapp, advisory_store):
    result = PipAuditScanner(store=advisory_store).scan(pyapp)
    assert result.skipped_reason is None
    vuln = next(f for f in result.findings if f.rule_id == "PYSEC-2018-28")
    assert vuln.severity is Severity.HIGH
    assert "CVE-2018-18074" in vuln.message
    assert vuln.remediation == "upgrade requests to 2.20.0 or later"
    assert (str(vuln.path), vuln.line) == ("requirements.txt", 2)
    assert {f.rule_id for f in result.findings} == {"PYSEC-2018-28", "dependency-unpinned"}
    assert result.database is not None
    assert result.database.kind == "local"
    assert result.database.records == 2
    assert result.summary == "2 pinned dependencies audited"


def test_the_record_severity_is_used_when_the_store_has_one(pyapp, advisory_store):
    (pyapp.root / "requirements.txt").write_text("urllib3==1.24.1\n")
    [finding] = PipAuditScanner(store=advisory_store).scan(pyapp).findings
    assert finding.rule_id == "PYSEC-2019-132"
    assert finding.remediation == "upgrade urllib3 to 1.24.2 or later"


def test_fixed_versions_are_clean(pyapp, advisory_store):
    (pyapp.root / "requirements.txt").write_text("requests==2.20.0\nurllib3==1.26.18\n")
    result = PipAuditScanner(store=advisory_store).scan(pyapp)
    assert result.skipped_reason is None
    assert result.findings == ()


def test_no_database_is_not_done_and_says_what_to_do(pyapp, tmp_path):
    result = PipAuditScanner(store=tmp_path / "missing.sqlite").scan(pyapp)
    assert result.skipped_reason is not None
    assert "sandbench advisories import" in result.skipped_reason


def test_an_unreachable_osv_url_is_not_done(pyapp):
    # pip-audit's default service would say "No known vulnerabilities found" here.
    result = PipAuditScanner(osv_url="http://127.0.0.1:9/v1/query").scan(pyapp)
    assert result.skipped_reason is not None
    assert "could not query the advisory database" in result.skipped_reason
    assert "Connection refused" in result.skipped_reason
    assert result.database is not None
    assert result.database.kind == "remote"


class _Broken(BaseHTTPRequestHandler):
    def do_POST(self):
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_failing_osv_server_is_not_done(pyapp):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/query"
        result = PipAuditScanner(osv_url=url).scan(pyapp)
    finally:
        server.shutdown()
        server.server_close()
    assert result.skipped_reason is not None
    assert "could not query" in result.skipped_reason


def test_a_configured_url_wins_over_the_store(pyapp, advisory_store, tmp_path):
    with osv_server(AdvisoryStore(advisory_store)) as server:
        result = PipAuditScanner(osv_url=server.url, store=tmp_path / "none").scan(pyapp)
        assert server.queries == ["requests==2.19.0", "urllib3==1.26.18"]
    assert result.database is not None
    assert result.database.location == server.url
    assert "PYSEC-2018-28" in {f.rule_id for f in result.findings}


def test_dependency_files(tmp_path):
    (tmp_path / "other.txt").write_text("g==4.0\n")
    (tmp_path / "requirements-dev.txt").write_text("# c\n-r other.txt\nA_B==1.0  # x\nc>=2\n!!\n")
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["d==2.0", "e"]\n')
    (tmp_path / "pylock.toml").write_text('[[packages]]\nname = "F"\nversion = "3.0"\n')
    declared = declared_dependencies(tmp_path)
    deps = {(d.name, d.version, d.path, d.line) for d in declared.deps}
    assert deps == {
        ("g", "4.0", "other.txt", 1),
        ("a-b", "1.0", "requirements-dev.txt", 3),
        ("c", None, "requirements-dev.txt", 4),
        ("d", "2.0", "pyproject.toml", 2),
        ("e", None, "pyproject.toml", 2),
        ("f", "3.0", "pylock.toml", 2),
    }
    [bad] = declared.unreadable
    assert (bad.where, bad.text) == ("requirements-dev.txt:5", "!!")


def test_pyproject_and_pylock_are_audited(make_package, advisory_store):
    package = make_package(
        {
            "pyproject.toml": '[project]\ndependencies = ["requests==2.18.4"]\n',
            "pylock.toml": '[[packages]]\nname = "urllib3"\nversion = "1.24.1"\n',
        }
    )
    result = PipAuditScanner(store=advisory_store).scan(package)
    assert {(f.rule_id, str(f.path)) for f in result.findings} == {
        ("PYSEC-2018-28", "pyproject.toml"),
        ("PYSEC-2019-132", "pylock.toml"),
    }


def test_unparsable_toml_is_not_done_and_a_high_finding(make_package, advisory_store):
    package = make_package({"pylock.toml": "[[packages]\n"})
    result = PipAuditScanner(store=advisory_store).scan(package)
    assert result.skipped_reason is not None
    assert result.skipped_reason.startswith("pylock.toml:1: cannot parse")
    [finding] = result.findings
    assert (finding.rule_id, finding.severity, finding.location) == (
        "dependency-unreadable",
        Severity.HIGH,
        "pylock.toml:1",
    )


def test_nothing_pinned_needs_no_database(make_package, tmp_path):
    package = make_package({"requirements.txt": "flask\n"})
    result = PipAuditScanner(store=tmp_path / "none").scan(package)
    assert result.skipped_reason is None
    assert [f.rule_id for f in result.findings] == ["dependency-unpinned"]
    assert json.loads(result.model_dump_json())["summary"] == "no pinned dependencies to audit"


def _store_modified(tmp_path, modified: str):
    records = tmp_path / "osv"
    records.mkdir(parents=True)
    record = json.loads((OSV / "PyPI" / "PYSEC-2018-28.json").read_text())
    (records / "r.json").write_text(json.dumps({**record, "modified": modified}))
    store = tmp_path / "store.sqlite"
    import_export(records, store)
    return store


def test_staleness_is_judged_by_the_newest_record_not_the_import(pyapp, tmp_path):
    # Changed by issue 15: the fixture store (newest record 2023) was "fresh" because it
    # had just been imported; a store is as old as its newest record.
    old = _store_modified(tmp_path / "a", "2024-03-01T00:00:00Z")
    [finding] = [
        f
        for f in PipAuditScanner(store=old, max_age_days=30).scan(pyapp).findings
        if f.rule_id == "advisory-database-stale"
    ]
    assert finding.severity is Severity.MEDIUM
    assert "newest record was modified" in finding.message
    assert "(2024-03-01)" in finding.message
    assert "sandbench advisories import" in (finding.remediation or "")
    now = datetime.now(UTC).isoformat()
    fresh = _store_modified(tmp_path / "b", now)
    result = PipAuditScanner(store=fresh, max_age_days=30).scan(pyapp)
    assert "advisory-database-stale" not in {f.rule_id for f in result.findings}


def test_a_store_without_modified_dates_is_of_unknown_age(pyapp, tmp_path):
    store = _store_modified(tmp_path, "")
    result = PipAuditScanner(store=store, max_age_days=30).scan(pyapp)
    [finding] = [f for f in result.findings if f.rule_id == "advisory-database-stale"]
    assert "age is unknown" in finding.message


def test_a_corrupt_store_is_not_done(pyapp, tmp_path):
    bad = tmp_path / "advisories.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    result = PipAuditScanner(store=bad).scan(pyapp)
    assert result.skipped_reason is not None
    assert "not an advisory store" in result.skipped_reason


IMAGE_REQUESTS = "/usr/local/lib/python3.11/site-packages/requests-2.19.0.dist-info"


def test_image_packages_are_audited_with_the_requirements_in_one_run(pyapp, advisory_store):
    image = ImagePackages(
        image="example/app:1",
        packages=(
            ("Requests", "2.19.0", IMAGE_REQUESTS),
            ("urllib3", "1.26.18", "/usr/lib/python3/dist-packages/urllib3-1.26.18.egg-info"),
        ),
    )
    result = PipAuditScanner(store=advisory_store, image_packages=image).scan(pyapp)
    assert result.skipped_reason is None
    found = sorted(
        (str(f.path), f.message, f.remediation)
        for f in result.findings
        if f.rule_id == "PYSEC-2018-28"
    )
    assert found == [
        (
            IMAGE_REQUESTS,
            f"requests 2.19.0 installed in image example/app:1 ({IMAGE_REQUESTS}) is affected "
            "by PYSEC-2018-28 (CVE-2018-18074, GHSA-x84v-xcm2-53pg)",
            "upgrade requests to 2.20.0 or later in the image",
        ),
        (
            "requirements.txt",
            "requests 2.19.0 is affected by PYSEC-2018-28 (CVE-2018-18074, GHSA-x84v-xcm2-53pg)",
            "upgrade requests to 2.20.0 or later",
        ),
    ]
    assert result.summary == (
        "2 pinned dependencies audited, with 2 distributions installed in example/app:1"
    )


def test_an_image_alone_is_audited_and_fingerprints_ignore_the_image_name(
    make_package, advisory_store
):
    def scan(name: str):
        image = ImagePackages(image=name, packages=(("requests", "2.19.0", IMAGE_REQUESTS),))
        return PipAuditScanner(store=advisory_store, image_packages=image).scan(make_package())

    first, rebuilt = scan("sandbench-build/m:aaaa"), scan("sandbench-build/m:bbbb")
    assert [(f.rule_id, str(f.path)) for f in first.findings] == [("PYSEC-2018-28", IMAGE_REQUESTS)]
    assert [f.fingerprint for f in first.findings] == [f.fingerprint for f in rebuilt.findings]


def test_an_image_that_could_not_be_read_makes_the_scan_not_done(pyapp, advisory_store):
    image = ImagePackages(image="example/absent:1", unreadable="image example/absent:1 is gone")
    result = PipAuditScanner(store=advisory_store, image_packages=image).scan(pyapp)
    assert result.skipped_reason == (
        "the packages installed in image example/absent:1 could not be listed: "
        "image example/absent:1 is gone"
    )
    assert [f.rule_id for f in result.findings] == ["dependency-unpinned"]


def test_a_pin_pip_audit_reports_under_its_normalized_version_keeps_its_place(
    make_package, advisory_store
):
    # pip-audit answers `requests==v2.19` as 2.19 and `urllib3==1.24.1.0` as it was:
    # before, the first finding had no file and no line.
    package = make_package(
        {"requirements.txt": "requests==v2.19\n", "requirements-b.txt": "urllib3==1.24.1.0\n"}
    )
    result = PipAuditScanner(store=advisory_store).scan(package)
    assert {(f.rule_id, str(f.path), f.line) for f in result.findings if f.rule_id[0] == "P"} == {
        ("PYSEC-2018-28", "requirements.txt", 1),
        ("PYSEC-2019-132", "requirements-b.txt", 1),
    }
