"""A WASI call that fails inside wasmtime traps with "error while executing at wasm
backtrace:" as its first line; the violation says what failed (wasmtime's "Caused by:"
list), not only that line, which was all a report showed before."""

from __future__ import annotations

from sandbench.manifests import load
from sandbench.sandbox import Grants, Request, SandboxLimits, ViolationKind

from . import wat

RANDOM_PAST_THE_LIMIT = wat.command(
    "(drop (call $random_get (i32.const 4096) (i32.const -1)))",
    imports=f'(import "{wat.WASI}" "random_get" (func $random_get (param i32 i32) (result i32)))',
)


def test_a_failed_wasi_call_names_what_failed(backend, make_module):
    package = load(make_module(RANDOM_PAST_THE_LIMIT))
    result = backend.load(package, SandboxLimits(memory_bytes=16 * 1024 * 1024), Grants())
    assert result.instance is not None, result.violation
    with result.instance as instance:
        outcome = instance.invoke(Request())
    assert outcome.violation is not None
    assert outcome.violation.kind is ViolationKind.TRAP
    message = outcome.violation.message
    assert message.startswith("trapped: host call failed: ")
    assert "get-random-bytes" in message
    assert "requested len 4294967295 exceeds limit" in message
    assert "\n" not in message
