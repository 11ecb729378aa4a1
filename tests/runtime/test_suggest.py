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


def ok(memory: int, cpu_ms: float, wall_ms: float) -> Outcome:
    usage = Usage(memory_bytes=memory, cpu_ms=cpu_ms, wall_ms=wall_ms)
    return Outcome(response=Response(status=200), usage=usage)


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
    outcomes = [ok(3 * 1024 * 1024, 50.0, 20.0), ok(1024, 0.01, 1.0)]
    s = suggest(MANIFEST, SandboxLimits(timeout_ms=1000), WASI_FILES, outcomes)
    # 3 MiB x1.5 = 4.5 MiB -> 5 MiB; 50 ms of CPU x1.5 / 1 s = 75m -> 80m; 20 ms x4 -> 100 ms
    assert s.security == {
        "permissions": ["storage:read:docs"],
        "csp": {},
        "limits": {
            "memory": "5MiB",
            "cpu": "80m",
            "timeout": "100ms",
            "storage": "10000000B",
            "network": "none",
        },
    }
    assert s.notes["database:read:x"].startswith("dropped: ")
    assert s.notes["memory"] == "peak linear memory 3,145,728 bytes x1.5 headroom"


def test_without_a_successful_call_limits_are_not_sized():
    s = suggest(MANIFEST, SandboxLimits(), (), [Outcome(usage=Usage())])
    assert "memory" not in s.security["limits"]
    assert "nothing to size from" in s.notes["limits"]


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
