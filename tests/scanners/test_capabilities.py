"""WASM capability analysis: imports against permissions, required exports per ABI."""

from __future__ import annotations

import pytest

from sandbench.manifests import load
from sandbench.scanners import HOST_NAMESPACE, CapabilityScanner, Severity
from tests.scanners.conftest import EXAMPLES


def _wat(
    imports: str, exports: str = '(memory (export "memory") 1) (func (export "_start"))'
) -> str:
    return f"(module {imports} {exports})"


def _rules(result):
    return sorted((f.rule_id, f.severity.value) for f in result.findings)


@pytest.mark.parametrize(
    "example",
    ["hello", "hello-reactor", "vendas", "vendas-reactor", "hostile/memory-bomb"],
)
def test_examples_are_clean(example):
    result = CapabilityScanner().scan(load(EXAMPLES / example))
    assert result.findings == ()
    assert result.skipped_reason is None


def test_read_outside_opens_files_without_a_storage_permission(make_package):
    read_outside = EXAMPLES / "hostile" / "read-outside"
    assert CapabilityScanner().scan(load(read_outside)).findings == ()  # it has storage:read:docs
    data = (read_outside / "module.wasm").read_bytes()
    result = CapabilityScanner().scan(make_package(entry="module.wasm", entry_data=data))
    [finding] = result.findings
    assert finding.rule_id == "undeclared-filesystem"
    assert "wasi_snapshot_preview1.path_open" in finding.message
    assert str(finding.path) == "module.wasm"


def test_unknown_import_will_not_link():
    [finding] = CapabilityScanner().scan(load(EXAMPLES / "hostile" / "unknown-import")).findings
    assert (finding.rule_id, finding.severity) == ("unknown-import", Severity.HIGH)
    assert "env.launch_missiles" in finding.message


def test_filesystem_with_storage_permission_is_fine(make_package):
    wat = _wat('(import "wasi_snapshot_preview1" "path_open" (func (param i32)))')
    assert _rules(CapabilityScanner().scan(make_package(entry_data=wat))) == [
        ("undeclared-filesystem", "high")
    ]
    granted = make_package(entry_data=wat, permissions=["storage:read:docs"])
    assert _rules(CapabilityScanner().scan(granted)) == []


def test_sockets(make_package):
    wat = _wat('(import "wasi_snapshot_preview1" "sock_send" (func))')
    assert _rules(CapabilityScanner().scan(make_package(entry_data=wat))) == [
        ("undeclared-socket", "high")
    ]
    allowed = make_package(entry_data=wat, permissions=["api:external:api.example.com"])
    assert _rules(CapabilityScanner().scan(allowed)) == [("undeclared-socket", "low")]


@pytest.mark.parametrize(
    ("function", "granted", "denied"),
    [
        ("http_fetch", "api:external:a.example.com", "storage:read:x"),
        ("storage_read", "storage:read:x", "database:read:x"),
        ("storage_write", "storage:write:x", "storage:read:x"),
        ("db_query", "database:read:sales", "api:external:a.example.com"),
        ("db_execute", "database:write:sales", "database:read:sales"),
    ],
)
def test_host_functions_need_their_permission(make_package, function, granted, denied):
    wat = _wat(f'(import "{HOST_NAMESPACE}" "{function}" (func))')
    ok = make_package(entry_data=wat, permissions=[granted])
    assert _rules(CapabilityScanner().scan(ok)) == []
    bad = make_package(entry_data=wat, permissions=[denied])
    same_resource = granted.split(":")[0] == denied.split(":")[0]
    assert _rules(CapabilityScanner().scan(bad)) == [
        ("undeclared-host-capability", "high"),
        *([] if same_resource else [("unused-permission", "low")]),
    ]


def test_log_needs_nothing_and_unknown_host_functions_are_flagged(make_package):
    wat = _wat(
        f'(import "{HOST_NAMESPACE}" "log" (func)) (import "{HOST_NAMESPACE}" "spawn" (func))'
    )
    result = CapabilityScanner().scan(make_package(entry_data=wat))
    assert _rules(result) == [("unknown-host-function", "high")]
    assert "sandbench:host/v1.spawn" in result.findings[0].message


def test_missing_and_mistyped_exports(make_package):
    command = make_package(entry_data="(module (memory 1))")
    assert _rules(CapabilityScanner().scan(command)) == [
        ("missing-export", "critical"),
        ("missing-export", "critical"),
    ]
    reactor = make_package(
        abi="reactor",
        entry_data='(module (memory (export "memory") 1)'
        ' (func (export "sandbench_alloc") (param i64) (result i32) i32.const 0)'
        ' (func (export "sandbench_handle") (param i32 i32) (result i64) i64.const 0))',
    )
    result = CapabilityScanner().scan(reactor)
    assert _rules(result) == [("export-signature", "critical")]
    assert "(i64) -> (i32)" in result.findings[0].message


@pytest.mark.parametrize(
    ("entry", "data"),
    [("module.wasm", b"\x00asm\x01\x00\x00\x00\x02\x05\x01"), ("module.wat", "(module")],
)
def test_unreadable_entry_is_critical(make_package, entry, data):
    result = CapabilityScanner().scan(make_package(entry=entry, entry_data=data))
    [finding] = result.findings
    assert (finding.rule_id, finding.severity) == ("malformed-module", Severity.CRITICAL)
    assert finding.message.startswith(f"cannot read {entry}:")


def test_links_are_never_followed(make_package, tmp_path):
    outside = tmp_path / "outside.wasm"
    outside.write_bytes((EXAMPLES / "vendas" / "module.wasm").read_bytes())
    package = make_package(entry="module.wasm", entry_data=b"placeholder")
    package.entry_path.unlink()
    package.entry_path.symlink_to(outside)
    [finding] = CapabilityScanner().scan(package).findings
    assert finding.rule_id == "malformed-module"
    assert "not a regular file" in finding.message
