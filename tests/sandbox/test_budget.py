"""CPU share and output cap, without wasmtime."""

from __future__ import annotations

import errno
import threading
import time

from sandbench.sandbox.budget import (
    FUEL_PER_CPU_SECOND_MAX,
    MIN_SAMPLE_FUEL,
    MIN_SAMPLE_S,
    CappedOutput,
    CpuShare,
    FuelRate,
    ModuleCpu,
    thread_cpu_s,
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


def test_share_does_not_wait_while_in_credit():
    clock = Clock()
    share = CpuShare(500, clock=clock, sleep=clock.sleep)
    assert share.acquire(1000) == 0.0
    share.charge(0.25)  # half of the 1 s window at 500m
    assert share.acquire(1000) == 0.0
    assert clock.slept == []


def test_share_in_debt_waits_until_paid_off():
    clock = Clock()
    share = CpuShare(500, clock=clock, sleep=clock.sleep)
    # The bucket holds 0.5 CPU-second; using 1 CPU-second leaves 0.5 CPU-second of debt,
    # which a 500m share pays off in 1 s.
    share.charge(1.0)
    waited = share.acquire(5000)
    assert waited == 1000.0
    assert clock.slept == [1.0]
    assert share.level == 0
    assert share.charged == 1.0


def test_share_refuses_a_wait_longer_than_allowed():
    clock = Clock()
    share = CpuShare(100, clock=clock, sleep=clock.sleep)
    share.charge(10.0)
    assert share.acquire(1000) is None
    assert clock.slept == []


def test_share_refills_with_time_but_not_above_one_window():
    clock = Clock()
    share = CpuShare(1000, clock=clock, sleep=clock.sleep)
    clock.now += 60
    assert share.level == 1.0


def test_a_share_grants_its_cores_in_cpu_seconds_over_time():
    # A module that always has work: 10 s of 50 ms calls at 250m get 2.5 CPU-s plus the
    # 0.25 CPU-s of the initial window (and at most one call of overdraft).
    clock = Clock()
    share = CpuShare(250, clock=clock, sleep=clock.sleep)
    start = clock.now
    while clock.now - start < 10:
        share.acquire(60_000)
        share.charge(0.05)
        clock.now += 0.05  # the call's own time
    assert 2.5 <= share.charged <= 2.5 + 0.25 + 0.05 + 1e-9


def test_fuel_rate_starts_at_the_highest_rate_and_learns_from_long_calls():
    rate = FuelRate()
    assert rate.rate == FUEL_PER_CPU_SECOND_MAX
    assert rate.fuel_for(0.5) == FUEL_PER_CPU_SECOND_MAX // 2
    rate.learn(1_000, MIN_SAMPLE_S / 2)  # too short to say anything
    assert (rate.rate, rate.samples) == (FUEL_PER_CPU_SECOND_MAX, 0)
    rate.learn(900_000_000, 0.1)  # 9e9 fuel per CPU-second: replaces the initial guess
    assert rate.rate == 9e9
    assert rate.fuel_for(0.5) == 4_500_000_000
    rate.learn(1_100_000_000, 0.1)  # a faster-burning call raises it at once: no early stop
    assert rate.rate == 11e9
    rate.learn(700_000_000, 0.1)  # a slower one lowers it only part of the way
    assert 7e9 < rate.rate < 11e9


def test_a_slow_call_that_burnt_little_fuel_does_not_lower_the_rate():
    """Its CPU was the host's (instantiation, host calls) or the machine's: a module whose
    calls burn 40 fuel would otherwise get 16 fuel a call after one slow call, and every
    later call would stop for `cpu` (seen on a busy CI machine)."""
    rate = FuelRate()
    rate.learn(40, 0.003)  # 3 ms of CPU for 40 fuel
    rate.learn(MIN_SAMPLE_FUEL - 1, 1.0)
    assert (rate.rate, rate.samples) == (FUEL_PER_CPU_SECOND_MAX, 0)
    rate.learn(MIN_SAMPLE_FUEL, MIN_SAMPLE_S)  # enough of both: the module's code speaks
    assert (rate.rate, rate.samples) == (MIN_SAMPLE_FUEL / MIN_SAMPLE_S, 1)


def test_a_faster_call_raises_the_rate_however_short():
    """A call's fuel per CPU-second never overstates the code's (its CPU holds the host's
    too): one stopped early by a rate learnt on a bad moment heals it for the next call."""
    rate = FuelRate()
    rate.learn(20_000_000, 0.01)  # 2e9: a slow moment, the first sample, replaces the guess
    rate.learn(200_000, 0.00002)  # 1e10 in 20 microseconds
    assert rate.rate == 1e10
    cpu = ModuleCpu(1000, 100, rate=rate)
    cpu.learn(100, 0.00002)  # 5e6 per second: short and slow, teaches nothing
    assert rate.rate == 1e10


def test_module_cpu_budget_is_cores_times_timeout_at_the_learnt_rate():
    cpu = ModuleCpu(250, 2000)
    assert cpu.call_budget_s == 0.5
    assert cpu.call_fuel() == FUEL_PER_CPU_SECOND_MAX // 2
    cpu.settle(fuel=450_000_000, cpu_s=0.05)
    assert cpu.share.charged == 0.05  # CPU-seconds are charged, not fuel
    assert cpu.call_fuel() == 4_500_000_000  # 0.5 CPU-s at the module's 9e9 per CPU-s


def test_thread_cpu_clock_is_the_threads_posix_cpu_clock():
    own = time.pthread_getcpuclockid(threading.get_ident())
    first = time.clock_gettime(own)
    ours = thread_cpu_s()
    last = time.clock_gettime(own)
    assert first <= ours <= last


def test_thread_cpu_clock_counts_work_not_waiting():
    before = thread_cpu_s()
    sum(i * i for i in range(200_000))
    worked = thread_cpu_s() - before
    mark = thread_cpu_s()
    threading.Event().wait(0.05)
    waited = thread_cpu_s() - mark
    assert worked > 0
    assert waited < 0.025  # waiting 50 ms costs (almost) no CPU, however busy the machine


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


def test_a_wait_also_covers_what_other_instances_charged_meanwhile():
    clock = Clock()
    share = CpuShare(250, clock=clock, sleep=clock.sleep)
    share.charge(0.5)  # 0.25 CPU-s of debt: 1 s at 250m
    other_calls = iter([0.25])

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        for cpu_s in other_calls:  # another instance's call lands during the wait
            share.charge(cpu_s)

    share._sleep = sleep
    assert share.acquire(10_000) == 2000.0  # its own debt, then the other call's
    assert clock.slept == [1.0, 1.0]


def test_a_dropping_sink_accepts_everything_keeps_the_cap_and_counts_the_rest():
    out = CappedOutput(10, drop=True)
    assert out(b"12345678") == 8
    assert out(b"abcdef") == 6  # two kept, four dropped, and the write still succeeds
    assert out(b"xyz") == 3
    assert (out.getvalue(), out.dropped, out.overflowed) == (b"12345678ab", 7, False)
    out.reset()
    assert (out.getvalue(), out.dropped) == (b"", 0)


def test_shares_on_one_file_are_one_bucket(tmp_path):
    clock = Clock()
    first = CpuShare(500, clock=clock, sleep=clock.sleep, shared=tmp_path / "bucket")
    second = CpuShare(500, clock=clock, sleep=clock.sleep, shared=tmp_path / "bucket")
    first.charge(0.75)  # 0.25 s of debt at 500m: half a second to pay off
    assert second.level == -0.25
    assert second.acquire(1000) == 500.0
    assert first.level == 0.0
    assert first.charged == second.charged == 0.75


def test_a_shared_bucket_in_credit_is_read_without_its_locks(tmp_path):
    import fcntl

    clock = Clock()
    share = CpuShare(500, clock=clock, sleep=clock.sleep, shared=tmp_path / "bucket")
    other = CpuShare(500, clock=clock, sleep=clock.sleep, shared=tmp_path / "bucket")
    answers: list[float | None] = []
    with open(tmp_path / "bucket", "rb") as held:
        # Another process's lock on the file, as while it charges: a call in credit does
        # not wait for it (a call in debt would: it reads the level under the lock).
        fcntl.flock(held, fcntl.LOCK_EX)
        thread = threading.Thread(target=lambda: answers.append(share.acquire(1000)))
        thread.start()
        thread.join(timeout=60)
        fcntl.flock(held, fcntl.LOCK_UN)
    assert answers == [0.0]
    other.charge(0.75)  # in debt from now on: the level is read and waited on under the locks
    assert share.acquire(1000) == 500.0
    assert share.level == 0.0


_CHARGER = """
import sys
from pathlib import Path
from sandbench.sandbox.budget import CpuShare
share = CpuShare(1000, shared=Path(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()
for _ in range(int(sys.argv[2])):
    share.charge(0.001)
"""


def test_processes_sharing_a_bucket_lose_no_charge(tmp_path):
    import subprocess
    import sys

    path, per_process = tmp_path / "bucket", 2000
    command = [sys.executable, "-c", _CHARGER, str(path), str(per_process)]
    processes = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    for process in processes:  # all have the file open before any charges
        assert process.stdout.readline() == "ready\n"
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in processes:
        process.communicate(timeout=120)
        assert process.returncode == 0
    share = CpuShare(1000, shared=path)
    # Every charge landed: read-modify-write under the file lock, never interleaved.
    assert abs(share.charged - 3 * per_process * 0.001) < 1e-9


def test_module_cpu_shares_its_bucket_only_when_asked(tmp_path):
    from sandbench.sandbox.budget import share_budgets

    key = ("/modules/spin", "sha256:00", 250, 1000)
    alone = ModuleCpu(250, 1000, key=key)
    share_budgets(tmp_path)
    try:
        first, second = ModuleCpu(250, 1000, key=key), ModuleCpu(250, 1000, key=key)
        other = ModuleCpu(250, 2000, key=(*key[:3], 2000))
    finally:
        share_budgets(None)
    first.share.charge(0.5)
    assert second.share.charged == 0.5
    assert alone.share.charged == other.share.charged == 0.0
    assert len(list(tmp_path.iterdir())) == 2
