"""`check()` over the fake backend (logic) and the real one (it really loads)."""

from __future__ import annotations

import pytest

from sandbench import ManifestError, check
from sandbench.sandbox import (
    FakeBackend,
    Outcome,
    Response,
    Usage,
    Violation,
    ViolationKind,
)

from .sandbox import wat

OK = Outcome(response=Response(status=200, body=b"ok"), usage=Usage(wall_ms=1, cpu_ms=1))


def test_check_loads_cold_then_warm_and_sends_the_health_request(make_module):
    fake = FakeBackend([OK])
    report = check(make_module(wat.OK), backend=fake, calls=3, warm_runs=2)
    assert report.status == "degraded"  # unsigned
    assert report.reasons == ["signature"]
    assert len(fake.loads) == 3
    assert len(fake.instances[-1].requests) == 3
    assert all(i.closed for i in fake.instances)
    assert not fake.closed  # a backend passed in stays the caller's


def test_check_reports_what_it_did_not_run(make_module):
    report = check(make_module(wat.OK), backend=FakeBackend([OK]))
    assert [s.check_id for s in report.skipped] == ["scanners", "load-test"]


def test_a_load_violation_makes_the_module_critical(make_module):
    fake = FakeBackend(load_violation=Violation(kind=ViolationKind.INVALID_MODULE, message="bad"))
    report = check(make_module(wat.OK), backend=fake)
    assert report.status == "critical"
    assert report.health is None
    assert report.reasons == ["module-loads"]


def test_an_invalid_manifest_raises_before_anything_runs(tmp_path):
    fake = FakeBackend([OK])
    with pytest.raises(ManifestError):
        check(tmp_path, backend=fake)
    assert fake.loads == []


def test_storage_buckets_are_granted_from_permissions(make_module, tmp_path):
    fake = FakeBackend([OK])
    check(make_module(wat.OK, permissions=["storage:write:out"]), backend=fake, storage=tmp_path)
    grants = fake.loads[0][2]
    assert grants.storage_write == {"out": (tmp_path / "out").resolve()}
    assert not (tmp_path / "out").exists()  # created for the run, removed after


def test_check_on_the_real_backend_opens_and_closes_its_own(make_module):
    report = check(make_module(wat.OK, signature=None))
    assert report.load.cold_ms > 0
    assert report.health.ok == 5
    assert report.tool.backend.startswith("wasmtime")


def test_check_leaves_no_temporary_folder_or_thread_behind(make_module, tmp_path, monkeypatch):
    import tempfile
    import threading

    # A private temp root: other runs on a shared machine use the system one at the same time.
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))

    def threads():
        return [t.name for t in threading.enumerate() if t.name == "sandbench-epoch"]

    before = threads()
    check(make_module(wat.OK, permissions=["storage:read:docs", "storage:write:out"]))
    check(make_module(wat.SPIN, limits={"cpu": "10m", "timeout": "1s"}))
    assert list(private.iterdir()) == []
    assert threads() == before


def test_a_backend_kind_is_opened_and_closed_by_the_pipeline(make_module):
    from sandbench.sandbox import BackendKind

    report = check(make_module(wat.OK, signature=None), backend=BackendKind.WASM, calls=2)
    assert report.health.ok == 2
    assert report.tool.backend.startswith("wasmtime")
