"""WASI `poll_oneoff` as the sandbox serves it: sleeping within the deadline, stdio
readiness, the event layout, and stderr past its cap (docs/abi.md, "Sleeping").

Elapsed times are only ever checked from below (a sleep lasts at least what was asked):
a busy machine makes everything slower, never faster.
"""

from __future__ import annotations

import struct
import threading
import time

from sandbench.manifests import load
from sandbench.sandbox import Grants, Request, SandboxLimits, ViolationKind

from . import wat

MiB = 1024 * 1024
LIMITS = SandboxLimits(memory_bytes=16 * MiB, cpu_millicores=1000, timeout_ms=5000)
CLOCK, FD_READ, FD_WRITE = 0, 1, 2
REALTIME, MONOTONIC = 0, 1


def clock(userdata: int, ns: int, *, clock_id: int = MONOTONIC, absolute: bool = False) -> bytes:
    return struct.pack("<QB7xI4xQQH6x", userdata, CLOCK, clock_id, ns, 0, int(absolute))


def fd(userdata: int, kind: int, number: int) -> bytes:
    return struct.pack("<QB7xI28x", userdata, kind, number)


def events(body: bytes) -> tuple[int, list[tuple[int, int, int, int]]]:
    """(errno, [(userdata, error, type, nbytes)]) from a `wat.poll` module's answer."""
    errno, count = struct.unpack_from("<II", body)
    return errno, [struct.unpack_from("<QHB5xQ", body, 8 + 32 * i) for i in range(count)]


def invoke(backend, make_module, source, limits=LIMITS, body=b""):
    package = load(make_module(source))
    result = backend.load(package, limits, Grants())
    assert result.instance is not None, result.violation
    with result.instance as instance:
        return instance.invoke(Request(method="POST", path="/", body=body))


def test_a_relative_sleep_lasts_at_least_what_was_asked_and_costs_no_cpu(backend, make_module):
    started = time.perf_counter()
    outcome = invoke(backend, make_module, wat.poll(clock(7, 50_000_000)))
    elapsed = time.perf_counter() - started
    assert outcome.ok, outcome.violation
    assert events(outcome.response.body) == (0, [(7, 0, CLOCK, 0)])
    assert elapsed >= 0.050
    assert outcome.usage.slept_ms >= 50.0
    assert outcome.usage.wall_ms >= 50.0


def test_an_absolute_monotonic_sleep_wakes_no_earlier_than_the_guest_clock_says(
    backend, make_module
):
    outcome = invoke(backend, make_module, wat.SLEEP_UNTIL)
    assert outcome.ok, outcome.violation
    before, after = struct.unpack("<QQ", outcome.response.body)
    assert after - before >= 50_000_000


def test_an_absolute_realtime_sleep_in_the_past_returns_at_once(backend, make_module):
    past = time.time_ns() - 10**9
    outcome = invoke(
        backend, make_module, wat.poll(clock(3, past, clock_id=REALTIME, absolute=True))
    )
    assert events(outcome.response.body) == (0, [(3, 0, CLOCK, 0)])


def test_stdio_is_ready_at_once_and_other_descriptors_are_ebadf(backend, make_module):
    subs = (
        clock(1, 60 * 10**9)
        + fd(2, FD_READ, 0)
        + fd(3, FD_WRITE, 1)
        + fd(4, FD_WRITE, 2)
        + fd(5, FD_READ, 9)
    )
    started = time.perf_counter()
    outcome = invoke(backend, make_module, wat.poll(subs), body=b"12345")
    assert time.perf_counter() - started < 60  # the 60 s clock did not run
    errno, got = events(outcome.response.body)
    assert errno == 0
    by_data = {data: (error, kind, nbytes) for data, error, kind, nbytes in got}
    assert set(by_data) == {2, 3, 4, 5}
    assert by_data[2] == (0, FD_READ, 5)  # stdin holds the request body
    assert by_data[3][:2] == (0, FD_WRITE)
    assert by_data[3][2] > 0  # room left under the output cap
    assert by_data[4][:2] == (0, FD_WRITE)
    assert by_data[5][:2] == (8, FD_READ)  # EBADF


def test_no_subscriptions_is_einval_and_a_bad_clock_is_an_event_error(backend, make_module):
    outcome = invoke(backend, make_module, wat.poll(b"", count=0))
    assert events(outcome.response.body) == (28, [])
    cpu_clock = clock(9, 10**6, clock_id=2)
    outcome = invoke(backend, make_module, wat.poll(cpu_clock))
    assert events(outcome.response.body) == (0, [(9, 28, CLOCK, 0)])


def test_subscriptions_outside_memory_are_efault(backend, make_module):
    outcome = invoke(backend, make_module, wat.poll(b"", count=10_000))
    assert events(outcome.response.body) == (21, [])


def test_sleeping_past_the_timeout_is_a_timeout_promptly(backend, make_module):
    limits = SandboxLimits(memory_bytes=16 * MiB, cpu_millicores=1000, timeout_ms=1000)
    started = time.perf_counter()
    outcome = invoke(backend, make_module, wat.poll(clock(1, 10 * 10**9)), limits=limits)
    assert outcome.violation.kind is ViolationKind.TIMEOUT
    assert "sleeping" in outcome.violation.message
    assert outcome.usage.slept_ms > 0
    assert outcome.usage.wall_ms >= 1000.0
    # Not after the 10 s sleep: the deadline cut it short (a wide margin, not a timing bound).
    assert time.perf_counter() - started < 9.0


def test_a_module_sleeping_in_a_loop_is_stopped_at_the_timeout(backend, make_module):
    limits = SandboxLimits(memory_bytes=16 * MiB, cpu_millicores=1000, timeout_ms=500)
    source = wat.poll(clock(1, 10**9), forever=True)
    outcome = invoke(backend, make_module, source, limits=limits)
    assert outcome.violation.kind is ViolationKind.TIMEOUT


def test_a_sleeping_module_does_not_hold_up_other_instances(backend, make_module):
    sleeper = backend.load(load(make_module(wat.poll(clock(1, 3 * 10**9)))), LIMITS, Grants())
    awake = backend.load(load(make_module(wat.OK)), LIMITS, Grants())
    done = threading.Event()

    def sleep() -> None:
        sleeper.instance.invoke(Request(method="GET", path="/"))
        done.set()

    thread = threading.Thread(target=sleep)
    thread.start()
    try:
        time.sleep(0.2)  # let the sleeper reach poll_oneoff
        # A sleep that held the GIL would stall these calls until the sleeper woke.
        for _ in range(20):
            assert awake.instance.invoke(Request(method="GET", path="/")).ok
        assert not done.is_set()
    finally:
        thread.join()
        sleeper.instance.close()
        awake.instance.close()


def test_stderr_past_its_cap_is_accepted_dropped_and_counted(backend, make_module):
    outcome = invoke(backend, make_module, wat.stderr_flood(20))
    assert outcome.ok, outcome.violation
    assert len(outcome.stderr.encode()) == 16 * 1024
    assert outcome.usage.stderr_dropped_bytes == 4 * 1024
