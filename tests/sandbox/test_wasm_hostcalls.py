"""`limits.hostcalls` in the WASM backend: host calls past the limit return `quota` unserved
and the request gets a `hostcalls` violation; the count starts afresh with every call (real
wasmtime, the real host API)."""

from __future__ import annotations

from sandbench.hostapi import Code
from sandbench.manifests import load
from sandbench.sandbox import Grants, Request, SandboxLimits, ViolationKind
from sandbench.sandbox.wasm.host import NAMESPACE

from . import wat

_LOG = f'(import "{NAMESPACE}" "log" (func $log (param i32 i32 i32) (result i32)))'


def logs(count: int) -> str:
    """A command module that logs "hi" `count` times, writes "quota" to stderr once a log
    call returns `quota`, and answers 200."""
    return wat.command(
        f"""
    (local $i i32)
    (loop $again
      (if (i32.eq (call $log (i32.const 1) (i32.const 64) (i32.const 2)) (i32.const {Code.QUOTA}))
        (then (drop (call $write (i32.const 2) (i32.const 80) (i32.const 5)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const {count}))))
    (drop (call $write (i32.const 1) (i32.const 96) (i32.const 15)))""",
        data=b"hi",
        imports=_LOG,
        extra='(data (i32.const 80) "quota") (data (i32.const 96) "Status: 200\\n\\nok")',
    )


def reactor_logging(count: int) -> str:
    """A reactor whose every call logs "hi" `count` times and answers 200."""
    return f"""(module
  {_LOG}
  (memory (export "memory") 1)
  (data (i32.const 0) "Status: 200\\n\\nok")
  (data (i32.const 64) "hi")
  (func (export "sandbench_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sandbench_handle") (param i32 i32) (result i64) (local $i i32)
    (loop $again
      (drop (call $log (i32.const 1) (i32.const 64) (i32.const 2)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const {count}))))
    (i64.const 16)))"""


def invoke(backend, make_module, source, limit, *, abi="command", times=1):
    limits = SandboxLimits(memory_bytes=16 * 1024 * 1024, host_calls=limit)
    loaded = backend.load(load(make_module(source, abi=abi)), limits, Grants())
    assert loaded.violation is None, loaded.violation
    with loaded.instance as instance:
        return [instance.invoke(Request()) for _ in range(times)]


def test_host_calls_up_to_the_limit_are_served(backend, make_module):
    (outcome,) = invoke(backend, make_module, logs(5), 5)
    assert outcome.ok, outcome.violation
    assert len(outcome.host.logs) == 5
    assert outcome.stderr == ""


def test_host_calls_past_the_limit_return_quota_and_end_in_a_hostcalls_violation(
    backend, make_module
):
    (outcome,) = invoke(backend, make_module, logs(8), 5)
    assert outcome.violation is not None
    assert outcome.violation.kind is ViolationKind.HOSTCALLS
    assert outcome.violation.message.startswith("3 host call(s) refused with quota (-3)")
    assert "limits.hostcalls (5)" in outcome.violation.message
    assert outcome.response is None
    assert len(outcome.host.logs) == 5  # the refused three were not served
    assert outcome.stderr == "quota" * 3  # the module saw the code
    refused = [(c.capability, c.action, c.code, c.detail) for c in outcome.host.denied]
    assert refused == [("log", "log", "quota", "past limits.hostcalls")] * 3


def test_a_reactor_counts_each_call_afresh(backend, make_module):
    outcomes = invoke(backend, make_module, reactor_logging(4), 5, abi="reactor", times=3)
    assert [o.ok for o in outcomes] == [True, True, True]
    assert [len(o.host.logs) for o in outcomes] == [4, 4, 4]


def test_a_reactor_past_the_limit_is_a_violation_and_the_next_call_starts_afresh(
    backend, make_module
):
    first, second = invoke(backend, make_module, reactor_logging(6), 5, abi="reactor", times=2)
    assert first.violation.kind is ViolationKind.HOSTCALLS
    assert second.violation.kind is ViolationKind.HOSTCALLS  # a new instance, the same module
    assert len(second.host.logs) == 5


def test_a_reactor_past_the_limit_is_not_re_entered(backend, make_module):
    """Its instance is made afresh, as after any violation: the second call is again the
    instance's first (it logs 6 times only on an instance's first call, once after)."""
    source = f"""(module
  {_LOG}
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 0) "Status: 200\\n\\nok")
  (data (i32.const 64) "hi")
  (func (export "sandbench_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sandbench_handle") (param i32 i32) (result i64) (local $i i32) (local $n i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (local.set $n (select (i32.const 6) (i32.const 1) (i32.eq (global.get $calls) (i32.const 1))))
    (loop $again
      (drop (call $log (i32.const 1) (i32.const 64) (i32.const 2)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (local.get $n))))
    (i64.const 16)))"""
    outcomes = invoke(backend, make_module, source, 5, abi="reactor", times=3)
    kinds = [o.violation.kind if o.violation else None for o in outcomes]
    assert kinds == [ViolationKind.HOSTCALLS] * 3
