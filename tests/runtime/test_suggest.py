"""Least privilege and right-sizing."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from sandbench import check
from sandbench.cli import cli
from sandbench.manifests import parse_manifest
from sandbench.reports import Status
from sandbench.runtime import permission_use, suggest
from sandbench.sandbox import Outcome, Response, SandboxLimits, Usage
from tests.conftest import EXAMPLES

MANIFEST = parse_manifest(
    json.dumps(
        {
            "name": "m",
            "version": "1.0.0",
            "runtime": {"kind": "wasm", "entry": "m.wasm"},
            "security": {
                "permissions": [
                    "storage:read:docs",
                    "database:read:x",
                    "api:external:a.example.com",
                ],
                "limits": {"storage": "10MB", "network": "5req/s"},
            },
        }
    )
)
WASI_FILES = ("wasi_snapshot_preview1::fd_write", "wasi_snapshot_preview1::path_open")


def ok(memory: int, cpu_ms: float, wall_ms: float, status: int = 200) -> Outcome:
    return Outcome(
        response=Response(status=status),
        usage=Usage(memory_bytes=memory, cpu_ms=cpu_ms, wall_ms=wall_ms),
    )


def test_storage_is_used_only_by_a_module_that_can_open_files():
    uses = {u.permission: u.used for u in permission_use(MANIFEST, WASI_FILES)}
    assert uses == {
        "storage:read:docs": True,
        "database:read:x": False,
        "api:external:a.example.com": False,
    }
    no_files = permission_use(MANIFEST, ("wasi_snapshot_preview1::fd_write",))
    assert not no_files[0].used
    assert "imports no WASI file function" in no_files[0].evidence


def test_limits_are_sized_from_peaks_with_headroom():
    outcomes = [ok(3 * 1024 * 1024, 5.0, 20.0), ok(1024, 0.01, 1.0)]
    s = suggest(MANIFEST, SandboxLimits(timeout_ms=1000), WASI_FILES, outcomes)
    # 3 MiB x1.5 = 4.5 MiB -> 5 MiB; 20 ms x4 -> 100 ms; 5 ms CPU x1.5 / 100 ms = 75m -> 80m
    assert s.security == {
        "permissions": ["storage:read:docs"],
        "csp": {},
        "limits": {
            "memory": "5MiB",
            "cpu": "80m",
            "timeout": "100ms",
            "storage": "10MB",
            "network": "none",
        },
    }
    assert s.notes["database:read:x"].startswith("dropped: ")
    assert s.notes["memory"] == "peak linear memory 3,145,728 bytes x1.5 headroom"


def test_without_a_successful_call_limits_are_not_sized():
    s = suggest(MANIFEST, SandboxLimits(), (), [Outcome(usage=Usage())])
    assert "memory" not in s.security["limits"]
    assert "nothing to size from" in s.notes["limits"]


BOMB = parse_manifest(
    json.dumps(
        {
            "name": "bomb",
            "version": "1.0.0",
            "runtime": {"kind": "wasm", "entry": "m.wasm"},
            "security": {"limits": {"memory": "16MB", "cpu": "250m", "timeout": "1s"}},
        }
    )
)
BOMB_LIMITS = SandboxLimits(memory_bytes=16_000_000, cpu_millicores=250, timeout_ms=1000)


def test_failed_calls_leave_the_declared_limits_as_they_are():
    # A memory bomb: every call broke the limit or answered 500; pasting the block keeps
    # 16MB / 250m / 1s instead of falling back to the policy's looser defaults.
    failed = [Outcome(usage=Usage(memory_bytes=16_000_000)), ok(16_000_000, 900.0, 990.0, 500)]
    s = suggest(BOMB, BOMB_LIMITS, (), failed)
    assert s.security["limits"] == {
        "memory": "16MB",
        "cpu": "250m",
        "timeout": "1s",
        "network": "none",
    }
    assert "no call succeeded (2 of 2 failed)" in s.notes["limits"]


def test_a_suggestion_never_goes_above_what_the_calls_ran_under():
    # 12 MB x1.5 = 18 MB > 16 MB; 600 ms x4 > 1 s; 900 ms CPU x1.5 within 1 s > 250m
    s = suggest(BOMB, BOMB_LIMITS, (), [ok(12_000_000, 900.0, 600.0)])
    assert s.security["limits"] == {
        "memory": "16MB",
        "cpu": "250m",
        "timeout": "1s",
        "network": "none",
    }
    for what, shown in (("memory", "16MB"), ("cpu", "250m"), ("timeout", "1s")):
        assert s.notes[what].endswith(f"above the {shown} the calls ran under, so kept at {shown}")


def test_adopting_the_suggestion_keeps_the_module_healthy(tmp_path, cache_dir):
    module = tmp_path / "vendas"
    shutil.copytree(EXAMPLES / "vendas", module)
    raw = json.loads((module / "module.json").read_text())
    raw["security"]["permissions"] = ["storage:read:docs", "database:write:sales"]
    (module / "module.json").write_text(json.dumps(raw))
    result = CliRunner().invoke(cli, ["manifest", "suggest", str(module)])
    assert result.exit_code == 0, result.output
    suggestion = json.loads(result.output)
    assert suggestion["security"]["permissions"] == []
    raw["security"] = suggestion["security"]
    raw.pop("signature")
    (module / "module.json").write_text(json.dumps(raw))
    report = check(module)
    assert report.reasons == ["signature"]  # only the (removed) signature keeps it from healthy
    assert report.status is Status.DEGRADED
    assert report.limits.memory_bytes <= 2 * 1024 * 1024


def test_unused_permissions_are_findings_in_the_report(tmp_path):
    module = tmp_path / "hello"
    shutil.copytree(EXAMPLES / "hello", module)
    raw = json.loads((module / "module.json").read_text())
    raw["security"]["permissions"] = ["storage:write:out"]
    (module / "module.json").write_text(json.dumps(raw))
    report = check(module)
    (finding,) = report.findings
    assert (finding.scanner, finding.rule_id, finding.severity) == (
        "least-privilege",
        "unused-permission",
        "low",
    )
    assert finding.message.startswith("storage:write:out is declared but unused")
    read_outside = check(EXAMPLES / "hostile" / "read-outside")
    assert read_outside.findings == []  # it imports path_open: its storage permission is used
