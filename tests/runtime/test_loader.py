"""Limits from the manifest, storage grants, the health request."""

from __future__ import annotations

import json

from sandbench.manifests import parse_manifest
from sandbench.runtime import Workspace, health_request, limits_for
from sandbench.sandbox import Request, SandboxLimits

DEFAULTS = SandboxLimits(memory_bytes=100, cpu_millicores=100, timeout_ms=100, output_bytes=50)
CEILINGS = SandboxLimits(memory_bytes=1000, cpu_millicores=1000, timeout_ms=1000, output_bytes=40)


def manifest(**security):
    return parse_manifest(
        json.dumps(
            {
                "name": "m",
                "version": "1.0.0",
                "runtime": {"kind": "wasm", "entry": "m.wasm"},
                "security": security,
                "health": {
                    "request": {
                        "method": "POST",
                        "path": "/a/b?x=1&y=2",
                        "headers": {"X-Trace": "1"},
                        "body": "hi",
                    }
                },
            }
        )
    )


def test_declared_limits_are_used():
    applied = limits_for(
        manifest(limits={"memory": "500B", "cpu": "250m", "timeout": "500ms", "network": "5req/s"}),
        DEFAULTS,
        CEILINGS,
    )
    limits = applied.limits
    assert (limits.memory_bytes, limits.cpu_millicores, limits.timeout_ms) == (500, 250, 500)
    assert str(limits.network) == "5req/s"
    assert applied.clamped == ()


def test_missing_limits_take_the_defaults_and_output_never_exceeds_its_ceiling():
    limits = limits_for(manifest(), DEFAULTS, CEILINGS).limits
    assert (limits.memory_bytes, limits.cpu_millicores, limits.timeout_ms) == (100, 100, 100)
    assert limits.output_bytes == 40
    assert limits.network is None


def test_limits_above_the_ceiling_are_clamped_with_a_note():
    applied = limits_for(manifest(limits={"memory": "1MB", "cpu": "2"}), DEFAULTS, CEILINGS)
    assert applied.limits.memory_bytes == 1000
    assert applied.limits.cpu_millicores == 1000
    assert applied.clamped == (
        "limits.memory: declared 1000000 is above the ceiling 1000",
        "limits.cpu: declared 2000 is above the ceiling 1000",
    )


def test_workspace_creates_buckets_and_removes_them(tmp_path):
    m = manifest(
        permissions=[
            "storage:read:docs",
            "storage:write:out",
            "storage:read:out",
            "database:read:x",
            "storage:read:*",
        ]
    )
    with Workspace(m) as workspace:
        root = workspace.root
        assert set(workspace.grants.storage_read) == {"docs"}
        assert set(workspace.grants.storage_write) == {"out"}
        assert all(p.is_dir() for p in workspace.grants.storage_read.values())
    assert not root.exists()


def test_workspace_keeps_existing_bucket_data(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("data")
    m = manifest(permissions=["storage:read:docs", "storage:write:new"])
    with Workspace(m, tmp_path) as workspace:
        assert workspace.grants.storage_read["docs"] == (tmp_path / "docs").resolve()
    assert (tmp_path / "docs" / "a.txt").read_text() == "data"
    assert not (tmp_path / "new").exists()


def test_health_request_splits_path_and_query():
    assert health_request(manifest()) == Request(
        method="POST", path="/a/b", query="x=1&y=2", headers=(("x-trace", "1"),), body=b"hi"
    )
