"""The WASM CPU model on real wasmtime (docs/abi.md, "What `cpu: 250m` means"): the CPU a
call is charged is its thread's CPU time, fuel is derived from the module's learnt rate,
the share refuses by CPU-seconds, one budget serves every instance of a module.

Nothing here asserts on wall time: only on charged CPU-seconds, fuel and refusals.
"""

from __future__ import annotations

import pytest

from sandbench.manifests import load
from sandbench.sandbox import Grants, Request, SandboxLimits, ViolationKind
from sandbench.sandbox.budget import FUEL_PER_CPU_SECOND_MAX, thread_cpu_s
from tests.conftest import EXAMPLES

from . import wat

MiB = 1024 * 1024
# About 2.4e7 fuel a call: a few milliseconds of CPU, answering 200.
COUNT = wat.command(
    """
    (local $i i32)
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1000000))))
    (drop (call $write (i32.const 1) (i32.const 64) (i32.const 15)))""",
    data=b"Status: 200\n\nok",
)
# Random reads and writes over 16 MiB forever: cache misses, so few instructions (little
# fuel) per CPU-second, far below the highest rate a first call's fuel assumes.
MEMORY_SPIN = wat.command(
    """
    (local $x i32) (local $p i32)
    (loop $l
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1103515245))
                             (i32.const 12345)))
      (local.set $p (i32.add (i32.const 65536)
        (i32.and (i32.shr_u (local.get $x) (i32.const 4)) (i32.const 0xFFFFFC))))
      (i32.store (local.get $p) (i32.add (i32.load (local.get $p)) (i32.const 1)))
      (br $l))""",
    pages=258,
)
# 2m for 1 s: a call's CPU budget is 2 ms, the bucket holds 2 ms and refills 2 ms a
# second; a call waits at most the 1 s timeout, so a debt above 2 ms is refused.
SMALL = SandboxLimits(memory_bytes=32 * MiB, cpu_millicores=2, timeout_ms=1000)
ROOMY = SandboxLimits(memory_bytes=32 * MiB, cpu_millicores=1000, timeout_ms=5000)


def test_the_cpu_charged_is_the_thread_cpu_clock_around_the_call(backend, make_module):
    package = load(make_module(COUNT))
    with backend.load(package, ROOMY, Grants()).instance as instance:
        measured, outcomes = [], []
        for _ in range(5):
            before = thread_cpu_s()
            outcomes.append(instance.invoke(Request()))
            measured.append(thread_cpu_s() - before)
        charged = instance.cpu.share.charged
    assert all(o.ok for o in outcomes), [o.violation for o in outcomes]
    for outcome, around in zip(outcomes, measured, strict=True):
        # The call's CPU is measured inside invoke: at most what this thread used around
        # it, and all but the host's per-call bookkeeping of it.
        assert 0 < outcome.usage.cpu_ms / 1000 <= around
        assert outcome.usage.cpu_ms / 1000 >= around - 0.001
    assert charged == pytest.approx(sum(o.usage.cpu_ms for o in outcomes) / 1000)


def test_the_fuel_budget_follows_the_rate_learnt_from_the_module(backend, make_module):
    package = load(make_module(MEMORY_SPIN))
    with backend.load(package, SMALL, Grants()).instance as first:
        spun = first.invoke(Request())
        # Fuel for 2 ms at the highest rate seen: this code burns far less fuel per
        # CPU-second, so the call ran over its CPU budget before the fuel stopped it.
        assert spun.usage.fuel == FUEL_PER_CPU_SECOND_MAX // 500
        assert spun.violation.kind in (ViolationKind.CPU, ViolationKind.TIMEOUT)
        learnt = spun.usage.fuel / (spun.usage.cpu_ms / 1000)
        assert first.cpu.rate.rate == pytest.approx(learnt)
        assert first.cpu.rate.rate < FUEL_PER_CPU_SECOND_MAX / 4
        # The same module under other limits: its own bucket, the same learnt rate.
        other = SandboxLimits(memory_bytes=32 * MiB, cpu_millicores=4, timeout_ms=1000)
        with backend.load(package, other, Grants()).instance as second:
            assert second.cpu is not first.cpu
            assert second.cpu.rate is first.cpu.rate
            stopped = second.invoke(Request())
    assert stopped.violation.kind in (ViolationKind.CPU, ViolationKind.TIMEOUT)
    assert stopped.usage.fuel == int(0.004 * learnt)  # 4 ms of CPU at the learnt rate
    if stopped.violation.kind is ViolationKind.CPU:
        assert "ms of CPU" in stopped.violation.message
        assert "against a budget of 4 ms" in stopped.violation.message


def test_one_slow_call_of_a_module_burning_little_fuel_stops_none_of_the_next(backend):
    """A command module's call is mostly its instantiation: 40 fuel. One call that took
    50 ms of CPU (a busy machine's stolen ticks, cold pages) used to set its rate to 800
    fuel per CPU-second: 4 fuel for the next calls' 5 ms budget, a `cpu` violation each."""
    limits = SandboxLimits(memory_bytes=32 * MiB, cpu_millicores=5, timeout_ms=1000)
    with backend.load(load(EXAMPLES / "hello"), limits, Grants()).instance as instance:
        first = instance.invoke(Request())
        instance.cpu.learn(first.usage.fuel, 0.05)  # the slow call, as `_finish` folds it in
        later = [instance.invoke(Request()) for _ in range(3)]
    assert first.ok
    assert 0 < first.usage.fuel < 1000
    assert [o.violation for o in later] == [None] * 3
    assert [o.response.status for o in later] == [200] * 3


def test_a_module_that_keeps_burning_is_refused_by_cpu_seconds(backend, make_module):
    package = load(make_module(MEMORY_SPIN))
    with backend.load(package, SMALL, Grants()).instance as instance:
        spun = instance.invoke(Request())
        refused = instance.invoke(Request())
        share = instance.cpu.share
    # The first call's CPU, not its fuel, is what the bucket holds against the module.
    assert share.charged == pytest.approx(spun.usage.cpu_ms / 1000)
    assert spun.usage.cpu_ms > 4  # more than the 2 ms bucket and a second of refill
    assert refused.violation.kind is ViolationKind.CPU
    assert "CPU share (2m) is used up" in refused.violation.message
    assert refused.usage.fuel == 0  # refused before it ran


def test_one_budget_is_shared_by_every_instance_of_a_module(backend, make_module):
    package = load(make_module(MEMORY_SPIN))
    copy = load(make_module(MEMORY_SPIN))  # the same code in another folder: another module
    results = [backend.load(package, SMALL, Grants()) for _ in range(3)]
    apart = backend.load(copy, SMALL, Grants())
    a, b, c = (r.instance for r in results)
    try:
        assert a.cpu is b.cpu is c.cpu
        assert apart.instance.cpu is not a.cpu
        spun = a.invoke(Request())
        # a's CPU put the module in debt: its other instances are refused too ...
        refused = [b.invoke(Request()), c.invoke(Request())]
        # ... and the other module is not.
        elsewhere = apart.instance.invoke(Request())
    finally:
        for instance in (a, b, c, apart.instance):
            instance.close()
    assert a.cpu.share.charged == pytest.approx(spun.usage.cpu_ms / 1000)
    assert all(o.violation.kind is ViolationKind.CPU for o in refused)
    assert all(o.usage.fuel == 0 for o in refused)
    assert elsewhere.usage.fuel > 0
