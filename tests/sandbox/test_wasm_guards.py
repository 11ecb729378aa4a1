"""The WASM backend's limit seam (sandbox/wasm/guards.py): one guard per limit, found by name."""

from __future__ import annotations

from sandbench.manifests import LIMITS
from sandbench.sandbox import SandboxLimits
from sandbench.sandbox.wasm.guards import GUARDS, guards_for, own_context


def test_every_guard_enforces_a_row_of_the_limit_table_once():
    names = [guard.limit for guard in GUARDS]
    assert set(names) <= {spec.name for spec in LIMITS}
    assert len(names) == len(set(names))


def test_a_module_that_imports_nothing_needs_no_guard():
    assert guards_for(()) == ()


def test_the_files_guard_serves_modules_that_open_files():
    needed = guards_for(("wasi_snapshot_preview1::path_open",))
    assert [guard.limit for guard in needed] == ["files"]


def test_the_hostcalls_guard_serves_modules_that_import_the_host_api():
    needed = guards_for(("sandbench:host/v1::log", "wasi_snapshot_preview1::fd_write"))
    assert [guard.limit for guard in needed] == ["hostcalls"]


def test_a_fresh_state_reports_no_violation_until_its_limit_is_broken():
    def armed(guard):
        state = guard.state(SandboxLimits())
        state.arm()
        return state.violation()

    for guard in GUARDS:  # armed in a context of its own, as every call is
        assert own_context(lambda guard=guard: armed(guard)) is None
