"""CPU share and output cap, without wasmtime."""

from __future__ import annotations

import errno

from sandbench.sandbox.budget import (
    FUEL_PER_CPU_SECOND,
    CappedOutput,
    CpuShare,
    call_fuel,
    ticks_for,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_call_fuel_is_cores_times_timeout():
    assert call_fuel(250, 2000) == FUEL_PER_CPU_SECOND // 2
    assert call_fuel(1000, 1000) == FUEL_PER_CPU_SECOND


def test_share_does_not_wait_while_in_credit():
    clock = Clock()
    share = CpuShare(500, clock=clock, sleep=clock.sleep)
    assert share.acquire(1000) == 0.0
    share.charge(FUEL_PER_CPU_SECOND // 4)  # half of the 1 s window at 500m
    assert share.acquire(1000) == 0.0
    assert clock.slept == []


def test_share_in_debt_waits_until_paid_off():
    clock = Clock()
    share = CpuShare(500, clock=clock, sleep=clock.sleep)
    # The bucket holds 0.5 CPU-second; using 1 CPU-second leaves 0.5 CPU-second of debt,
    # which a 500m share pays off in 1 s.
    share.charge(FUEL_PER_CPU_SECOND)
    waited = share.acquire(5000)
    assert waited == 1000.0
    assert clock.slept == [1.0]
    assert share.level == 0


def test_share_refuses_a_wait_longer_than_allowed():
    clock = Clock()
    share = CpuShare(100, clock=clock, sleep=clock.sleep)
    share.charge(10 * FUEL_PER_CPU_SECOND)
    assert share.acquire(1000) is None
    assert clock.slept == []


def test_share_refills_with_time_but_not_above_one_window():
    clock = Clock()
    share = CpuShare(1000, clock=clock, sleep=clock.sleep)
    clock.now += 60
    assert share.level == FUEL_PER_CPU_SECOND


def test_capped_output_keeps_up_to_the_cap_then_fails_writes():
    out = CappedOutput(10)
    assert out(b"12345") == 5
    assert out(b"6789012") == 5  # short write up to the cap
    assert not out.overflowed
    assert out(b"x") == -errno.EFBIG
    assert out.overflowed
    assert out.getvalue() == b"1234567890"
    out.reset()
    assert (out.getvalue(), out.overflowed, out.size) == (b"", False, 0)


def test_ticks_cover_the_timeout():
    assert ticks_for(1000, 10.0) == 101
    assert ticks_for(1, 10.0) == 2


def test_a_dropping_sink_accepts_everything_keeps_the_cap_and_counts_the_rest():
    out = CappedOutput(10, drop=True)
    assert out(b"12345678") == 8
    assert out(b"abcdef") == 6  # two kept, four dropped, and the write still succeeds
    assert out(b"xyz") == 3
    assert (out.getvalue(), out.dropped, out.overflowed) == (b"12345678ab", 7, False)
    out.reset()
    assert (out.getvalue(), out.dropped) == (b"", 0)
