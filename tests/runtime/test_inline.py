"""The inline path's rules (runtime/inline.py) on the repo's fake instance: which answers
count, the back-off after a call cut short, and forgiveness after a run of answers. The
gateway tests run it on wasmtime."""

from __future__ import annotations

from sandbench.manifests import load
from sandbench.runtime.inline import FORGIVE_AFTER, Inline
from sandbench.sandbox import (
    FakeBackend,
    Outcome,
    Request,
    Response,
    SandboxLimits,
    Usage,
    Violation,
    ViolationKind,
)
from sandbench.sandbox.fake import FakeInstance
from tests.conftest import EXAMPLES

OK = Outcome(response=Response(status=200, body=b"ok"))
TRAP = Outcome(violation=Violation(kind=ViolationKind.TRAP, message="unreachable"))
SPUN = Outcome(violation=Violation(kind=ViolationKind.CPU, message="spun"), usage=Usage(cpu_ms=1.5))


def test_a_trap_is_an_answer_a_call_cut_short_is_not():
    inline = Inline(limits=SandboxLimits(), instance=FakeInstance([TRAP, SPUN]))
    assert inline.call(Request()) == (TRAP, 0.0)
    assert inline.call(Request()) == (None, 1.5)  # its CPU is reported, not its violation
    assert (inline.calls, inline.cut_short) == (1, 1)


def test_after_a_call_cut_short_the_module_backs_off_doubling_then_is_forgiven():
    instance = FakeInstance([SPUN, SPUN, *[OK] * FORGIVE_AFTER])
    inline = Inline(limits=SandboxLimits(), instance=instance)
    assert inline.call(Request())[0] is None
    assert inline.call(Request()) == (None, 0.0)  # backing off: not even tried
    assert len(instance.requests) == 1
    inline.resume_at = 0.0  # the back-off is over
    assert inline.call(Request())[0] is None
    assert inline.backoff_s == 4.0  # 1 s, then 2 s, now 4 s the next time
    inline.resume_at = 0.0
    for _ in range(FORGIVE_AFTER):
        assert inline.call(Request())[0] is OK
    assert inline.backoff_s == 1.0


def test_a_call_cut_short_by_preemption_brings_no_back_off():
    late = Outcome(
        violation=Violation(kind=ViolationKind.TIMEOUT, message="late"),
        usage=Usage(cpu_ms=0.1, slept_ms=0.0, wall_ms=15.0),
    )
    slept = Outcome(
        violation=Violation(kind=ViolationKind.TIMEOUT, message="slept"),
        usage=Usage(cpu_ms=0.1, slept_ms=4.9, wall_ms=15.0),
    )
    inline = Inline(limits=SandboxLimits(timeout_ms=5), instance=FakeInstance([late, OK, slept]))
    assert inline.call(Request()) == (None, 0.1)  # made again on a thread ...
    assert inline.call(Request())[0] is OK  # ... but the next one is tried inline
    assert inline.call(Request())[0] is None  # a module that sleeps its time away
    assert inline.call(Request()) == (None, 0.0)  # backs off
    assert (inline.cut_short, inline.preempted) == (2, 1)


def test_a_host_fault_drops_the_inline_instance():
    instance = FakeInstance([OK])
    instance.close()  # a closed fake raises SandboxError: a host fault
    inline = Inline(limits=SandboxLimits(), instance=instance)
    assert inline.call(Request()) == (None, 0.0)
    assert inline.instance is None


def test_only_wasm_modules_without_permissions_run_inline():
    limits = SandboxLimits(timeout_ms=1000)
    assert Inline.of(load(EXAMPLES / "hello"), limits, FakeBackend()) is None  # not wasm

    class Wasm(FakeBackend):
        name = "wasm"

    plain = Inline.of(load(EXAMPLES / "hello"), limits, Wasm())
    assert plain is not None
    assert plain.limits.timeout_ms == 5
    assert plain.limits.cpu_millicores == limits.cpu_millicores
    assert Inline.of(load(EXAMPLES / "host-storage"), limits, Wasm()) is None
