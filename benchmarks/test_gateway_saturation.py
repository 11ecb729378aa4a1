"""Gateway throughput under concurrent load: `sandbench serve --workers N` against bare
uvicorn with as many workers returning the same bytes, each driven by the same locust load
test (open model, offered far above what either serves), in the same run.

The servers are pinned to every core but the last, the generator (locust, and this
process while it waits) to the last one, so they do not take each other's CPU. Locust
costs about as much CPU per request as bare uvicorn (FastHttpUser, ~175 us against
~140 us here), so a generator with one core cannot push bare uvicorn with one core to its
limit: each server therefore runs in a cgroup of its own limited to QUOTA of a core
(benchmarks/cpu_quota.py; cgroup v1 or v2, all its processes), below what the generator
can use. Both then saturate at the same CPU allowance and their rates compare their
capacities. Where no writable cgroup exists (not root) they run without one, and the
VERDICT line says so. Both servers run side by side and are loaded in BLOCKS blocks of
bare, gateway, gateway, bare; the throughput ratio is the median of the blocks' ratios
(each printed), so that a drift in the machine's state between blocks does not decide it.
Printed, gateway / bare: achieved requests per second, and server CPU per request (the scheduler's on-CPU
time of every server thread over the tests; steady under load, whatever else runs) with
the throughput ratio it implies for a server-bound run (bare CPU / gateway CPU). Under
a quota, also the CPU each server uses unloaded (measured for IDLE_S before the tests:
the gateway's timers and threads) and an estimate of the ratio on the servers' whole
cores: a quota weighs that fixed CPU more than a core does.

A rate is a server's capacity only when the server was the bottleneck, so for each side
the benchmark says what saturated, from the scheduler's accounting of each thread over the
span requests were sent (`/proc/PID/task/TID/schedstat`: time on a CPU, and time runnable
but waiting for one). A process whose event loop was never idle (on a CPU or waiting for
one >= BUSY of the time) had more work than CPU; one that ran little but waited long was
starved by other work, not idle:

    server saturated      at its CPU quota: it used >= BUSY of the quota and ran out of it
                          in >= BUSY of the 100 ms periods requests were sent over (a
                          worker idle meanwhile, connections unevenly spread, left no CPU
                          unused); without a quota:
                          every worker's event loop never idle ("on cores other work
                          held X% of" when the server itself used less than BUSY of its
                          cores: its rate is then its rate on the CPU it got)
    generator saturated   locust's busiest process never idle, the server's workers not
    neither               nor was either

and a last line, VERDICT, judges issue 17's target (at least 0.7x) on the throughput
ratio when both servers saturated at the same quota or on cores of their own, on the
throughput per server
CPU-second (bare CPU per request / gateway's) when both saturated on cores shared with
other work (their rates then got unequal CPU), on the ratio as a bound when only one
server saturated and the bound decides (the generator could not push the other side to
its limit: a gateway below 0.7x of that is below 0.7x of bare uvicorn's capacity), and
not at all otherwise (then the CPU-implied ratio is the estimate).

Standalone, for a quiet machine (the figures docs/bench.md quotes):

    .venv/bin/python -m pytest benchmarks/test_gateway_saturation.py -q -s -p no:cacheprovider

`SANDBENCH_SATURATION_S` (seconds per load test, default 5; the smoke run of `make test`
takes 1, in one block), `SANDBENCH_SATURATION_BLOCKS` (default 3), `SANDBENCH_SATURATION_WORKERS` (default 2) and `SANDBENCH_SATURATION_MODULE`
(`hello-reactor` or `hello`) and `SANDBENCH_SATURATION_QUOTA` (each server's CPU quota in
cores, default 0.35; 0 for none) change the run; `SANDBENCH_SATURATION_GENERATOR_CORES=K`
gives the generator the last K cores, as K locust workers in distributed mode (on a
machine of 4 cores or more, so that locust can outpace bare uvicorn: on one core each it
costs about as much CPU per request as bare uvicorn does).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path

import psutil

from sandbench.bench.loadtest import LoadTestConfig, LoadTestResult, run_load_test

from .conftest import EXAMPLES
from .cpu_quota import CpuQuota, cpu_quota
from .servers import (
    bare_command,
    busy_shares,
    cpu_seconds,
    free_port,
    pinned,
    running,
    serve_command,
    thread_times,
    tree,
)

BODIES = {"hello": b"hello from sandbench\n", "hello-reactor": b"hello from a reactor\n"}
MODULE = os.environ.get("SANDBENCH_SATURATION_MODULE", "hello-reactor")
WORKERS = int(os.environ.get("SANDBENCH_SATURATION_WORKERS", "2"))
# More than one: locust's distributed mode, one locust worker per generator core.
GENERATOR_CORES = int(os.environ.get("SANDBENCH_SATURATION_GENERATOR_CORES", "1"))
# Each server's CPU allowance, in cores (0: none): below what the generator can use, so that
# the servers, not locust, are what limits the rate on both sides.
QUOTA = float(os.environ.get("SANDBENCH_SATURATION_QUOTA", "0.35"))
# Blocks of four load tests, bare, gateway, gateway, bare: the ratio judged is the median of
# the blocks' ratios (the machine's state drifts between blocks; within one it falls on both
# sides alike). The smoke run of `make test` runs one.
BLOCKS = int(os.environ.get("SANDBENCH_SATURATION_BLOCKS", "3"))
SETTLE_S = 3.0  # after the port answers, for every worker to be listening too
IDLE_S = 2.0  # then, unloaded: the CPU a server uses doing nothing (timers, threads)
USERS = 100  # connections at once: enough to keep both workers busy despite latency
BUSY = 0.85  # of the time a side could run: that side is what limited the rate
TARGET = 0.7  # issue 17: the gateway at least 0.7x bare uvicorn's throughput
_SAMPLE_S = 0.2


def _cores() -> tuple[set[int] | None, set[int] | None]:
    """(server cores, generator cores: the last GENERATOR_CORES); None, None when there are
    not more cores than that (nothing to split)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) <= GENERATOR_CORES:
        return None, None
    return set(cores[:-GENERATOR_CORES]), set(cores[-GENERATOR_CORES:])


class _Generator:
    """Samples the scheduler's accounting of this process's children other than the
    servers (locust's processes) every `_SAMPLE_S` while a load test runs; `busiest()` is
    what the busiest one did in a typical interval (the median: locust's start-up, all
    CPU, is a few intervals of the test's)."""

    def __init__(self, servers: set[int]) -> None:
        self._servers = servers
        self._last: tuple[float, dict[tuple[int, int], tuple[float, float]]] | None = None
        self._intervals: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-generator", daemon=True)

    def __enter__(self) -> _Generator:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(_SAMPLE_S):
            try:
                children = psutil.Process().children(recursive=True)
            except psutil.Error:
                continue
            now = time.monotonic()
            times = thread_times([c.pid for c in children if c.pid not in self._servers])
            if self._last is not None:
                then, before = self._last
                shares = busy_shares(before, times, now - then).values()
                self._intervals.append(max(shares, default=(0.0, 0.0)))
            self._last = (now, times)

    def busiest(self) -> tuple[float, float]:
        """(share of the time the busiest generator process's event loop was on a CPU or
        waiting for one, share its threads were on a CPU), median over the intervals."""
        if not self._intervals:
            return 0.0, 0.0
        return (statistics.median(i[0] for i in self._intervals),
                statistics.median(i[1] for i in self._intervals))  # fmt: skip


class _Side:
    """One server under load tests: the results and what its processes used meanwhile."""

    def __init__(
        self, name: str, process: subprocess.Popen[bytes], port: int, path: str,
        quota: CpuQuota | None,
    ) -> None:  # fmt: skip
        self.name, self.process, self.port, self.path = name, process, port, path
        self.quota = quota
        self.throttled = 0  # periods of its quota it ran out of quota in, over the tests
        self.results: list[LoadTestResult] = []
        self.run_s = 0.0
        self.window_s = 0.0  # seconds run_s was measured over (locust's start-up included)
        self.busy: list[float] = []  # per test: the least busy worker's event loop
        self.generator: list[tuple[float, float]] = []
        self.idle = 0.0  # CPU-seconds a second it used unloaded

    def load(self, seconds: float, servers: set[int]) -> None:
        _, cores = _cores()
        config = LoadTestConfig(url=f"http://127.0.0.1:{self.port}", path=self.path, users=USERS,
                                rate=20000, duration_s=seconds,
                                workers=GENERATOR_CORES if GENERATOR_CORES > 1 else 0)  # fmt: skip
        pids = tree(self.process)
        start = time.monotonic()
        before = thread_times(pids)
        throttled = self.quota.throttling()[1] if self.quota else 0
        with pinned(cores), _Generator(servers) as generator:  # locust inherits the cores
            result = run_load_test(config)
        after = thread_times(pids)
        self.window_s += time.monotonic() - start
        if self.quota:
            self.throttled += self.quota.throttling()[1] - throttled
        self.results.append(result)
        # The server idles while locust starts and ends: its shares are of the span it was
        # sent requests. Its workers are the processes that used the most CPU.
        shares = busy_shares(before, after, result.requests / result.achieved_rps)
        workers = sorted(shares.values(), key=lambda share: share[1])[-WORKERS:]
        self.busy.append(min(busy for busy, _ in workers))
        self.run_s += sum(after[k][0] - before.get(k, (0.0, 0.0))[0] for k in after)
        self.generator.append(generator.busiest())

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.results)

    @property
    def span_s(self) -> float:
        """Seconds the tests sent requests (from first to last: locust's start-up left out)."""
        return sum(r.requests / r.achieved_rps for r in self.results)

    @property
    def rps(self) -> float:
        return self.requests / self.span_s

    @property
    def cpu_per_request(self) -> float:
        return self.run_s / self.requests

    def capacity(self, cores: float) -> float:
        """Requests a second it would serve with `cores` of CPU: what is left after its
        unloaded CPU, at the CPU a request costs beyond that (an estimate: it assumes that
        cost stays as measured)."""
        beyond = (self.run_s - self.idle * self.window_s) / self.requests
        return (cores - self.idle) / beyond

    def saturated(self, cores: int) -> tuple[str, str]:
        """(what saturated: "server", "contended server", "generator" or "neither", and the
        line that says so with the figures)."""
        allowance = self.quota.share if self.quota else float(cores)
        used = self.run_s / self.span_s / allowance
        busy = statistics.median(self.busy)
        generator = statistics.median(g for g, _ in self.generator)
        generator_cpu = statistics.median(c for _, c in self.generator)
        # Periods it ran out of quota in, against the periods requests were sent over (it
        # is also throttled while locust spreads its users, outside that span).
        sent = self.span_s / self.quota.period_s if self.quota else 0.0
        if self.quota is not None and used >= BUSY and self.throttled >= BUSY * sent:
            # All the CPU it may have, and wanting more: a worker's idle moments (connections
            # unevenly spread over the workers) left no CPU unused.
            kind, text = "server", "server saturated at its CPU quota"
            text += ", the generator too" if generator >= BUSY else ""
        elif busy >= BUSY:
            kind = "server" if used >= BUSY else "contended server"
            text = "server saturated" + ("" if used >= BUSY else
                                         f", on cores other work held {1 - used:.0%} of")  # fmt: skip
            text += ", the generator too" if generator >= BUSY else ""
        elif generator >= BUSY:
            kind = "generator"
            text = "generator saturated" + ("" if generator_cpu >= BUSY else
                                            f", on a core other work held {1 - generator_cpu:.0%} of")  # fmt: skip
        else:
            kind, text = "neither", "neither saturated: both waited on the network or each other"
        held = (f"its quota of {allowance:.2f} core, out of quota in {self.throttled} "
                f"periods of {sent:.0f} sending" if self.quota else f"its {cores} core(s)")  # fmt: skip
        figures = (f"server's workers never idle {busy:.0%} of the time, on a CPU {used:.0%} of "
                   f"{held}, unloaded {self.idle * 1000:.0f} ms a second; locust never idle "
                   f"{generator:.0%}, on a CPU "
                   f"{generator_cpu:.0%} of a core")  # fmt: skip
        return kind, f"{text} ({figures})"


def _quotas(stack: contextlib.ExitStack) -> tuple[CpuQuota | None, CpuQuota | None, str]:
    """A cgroup of QUOTA of a core for each server (entered on `stack`, removed when it
    closes), or none for either (and why) where the machine gives no writable one."""
    if QUOTA <= 0:
        return None, None, "no CPU quota (SANDBENCH_SATURATION_QUOTA=0)"
    bare, why = stack.enter_context(cpu_quota(QUOTA, "bare"))
    if bare is None:
        return None, None, why
    ours, why = stack.enter_context(cpu_quota(QUOTA, "gateway"))
    return (bare, ours, "") if ours is not None else (None, None, why)


def _confined(process: subprocess.Popen[bytes], quota: CpuQuota | None) -> None:
    """Every process of the server is in its cgroup (workers inherit it from the parent,
    moved in before it spawned them): the quota holds the whole server."""
    if quota is not None:
        assert set(tree(process)) <= quota.pids(), f"a server process escaped {quota.path}"


def _both(tmp_path: Path, seconds: float, blocks: int) -> tuple[_Side, _Side, str]:
    """Both servers up side by side, each under its own CPU quota where there can be one,
    load-tested in `blocks` blocks of bare, ours, ours, bare: a drift in the machine's other
    load falls on both alike. Also returns why there is no quota ("" when there is)."""
    servers, _ = _cores()
    bare_port, ours_port = free_port(), free_port()
    bare_cmd = bare_command(tmp_path, BODIES[MODULE], bare_port, workers=WORKERS)
    ours_cmd = serve_command(EXAMPLES / MODULE, ours_port, tmp_path, workers=WORKERS)
    with contextlib.ExitStack() as stack:  # closed last: the cgroups outlive their servers
        bare_quota, ours_quota, why = _quotas(stack)
        with (
            running(bare_cmd, bare_port, tmp_path, servers, bare_quota) as bare_process,
            running(ours_cmd, ours_port, tmp_path, servers, ours_quota) as ours_process,
        ):
            time.sleep(SETTLE_S)
            _confined(bare_process, bare_quota)
            _confined(ours_process, ours_quota)
            bare = _Side("bare", bare_process, bare_port, "/", bare_quota)
            ours = _Side("gateway", ours_process, ours_port, f"/{MODULE}/", ours_quota)
            before = cpu_seconds(bare_process), cpu_seconds(ours_process)
            time.sleep(IDLE_S)
            bare.idle = (cpu_seconds(bare_process) - before[0]) / IDLE_S
            ours.idle = (cpu_seconds(ours_process) - before[1]) / IDLE_S
            server_pids = set(tree(bare_process) + tree(ours_process))
            for _ in range(blocks):
                for side in (bare, ours, ours, bare):
                    side.load(seconds, server_pids)
    return bare, ours, why


def block_ratios(bare: _Side, ours: _Side) -> list[float]:
    """Each block's throughput ratio, gateway over bare (its two tests a side, pooled)."""
    ratios = []
    for block in range(0, len(bare.results), 2):
        pair = slice(block, block + 2)
        rates = [sum(r.requests for r in side.results[pair])
                 / sum(r.requests / r.achieved_rps for r in side.results[pair])
                 for side in (ours, bare)]  # fmt: skip
        ratios.append(rates[0] / rates[1])
    return ratios


def verdict(bare: str, ours: str, ratio: float, implied: float, quota: str = "") -> str:
    """The VERDICT line: which figure judges the target, given what saturated on each side
    and the CPU each server had (`quota`: how much, "" for cores of their own)."""
    if bare == ours == "server":
        met = "met" if ratio >= TARGET else "NOT met"
        where = f"at the same CPU quota ({quota})" if quota else "on cores of their own"
        return (f"VERDICT: both servers saturated {where}: throughput "
                f"{ratio:.2f}x bare uvicorn, target >= {TARGET}x {met}")  # fmt: skip
    if {bare, ours} <= {"server", "contended server"}:
        met = "met" if implied >= TARGET else "NOT met"
        return (f"VERDICT: both servers saturated, on cores other work shared: judged on "
                f"throughput per server CPU-second, {implied:.2f}x bare uvicorn, target >= "
                f"{TARGET}x {met} (the rates, {ratio:.2f}x, got unequal CPU)")  # fmt: skip
    servers = ("server", "contended server")
    # Only one server saturated: the other could do more than its rate, so the ratio is a
    # bound, which decides the target when it falls on the right side of it.
    if ours in servers and bare == "generator" and ratio < TARGET:
        return (f"VERDICT: the gateway saturated and bare uvicorn could not be pushed to: "
                f"throughput at most {ratio:.2f}x bare uvicorn, target >= {TARGET}x NOT met")  # fmt: skip
    if bare in servers and ours == "generator" and ratio >= TARGET:
        return (f"VERDICT: bare uvicorn saturated and the gateway could not be pushed to: "
                f"throughput at least {ratio:.2f}x bare uvicorn, target >= {TARGET}x met")  # fmt: skip
    starved = "; ".join(f"{name}: {'nothing' if kind == 'neither' else 'the ' + kind} saturated"
                        for name, kind in (("bare", bare), ("gateway", ours))
                        if kind not in ("server", "contended server"))  # fmt: skip
    return (f"VERDICT: not a server-bound comparison ({starved}): "
            f"the rates say nothing about capacity; server CPU per request implies "
            f"{implied:.2f}x for a server-bound run (target >= {TARGET}x); a quieter machine, "
            f"or a generator with more CPU than the servers, would decide it")  # fmt: skip


def test_gateway_saturation(benchmark, request, tmp_path, capsys):
    # One round: the figure is the achieved rate, not the round's time (which pytest-benchmark
    # records, but which includes starting both servers and locust).
    benchmark.group = "gateway-saturation"
    smoke = request.config.getoption("benchmark_disable")
    seconds = 1.0 if smoke else float(os.environ.get("SANDBENCH_SATURATION_S", "5"))
    blocks = 1 if smoke else BLOCKS
    load_before = os.getloadavg()
    bare, ours, why = benchmark.pedantic(
        _both, args=(tmp_path, seconds, blocks), rounds=1, iterations=1
    )
    # No cgroup outlives the run.
    assert not any(side.quota and side.quota.path.exists() for side in (bare, ours))
    assert all(r.errors == 0 for r in [*bare.results, *ours.results])
    ratios = block_ratios(bare, ours)
    ratio = statistics.median(ratios)
    cpu = ours.cpu_per_request / bare.cpu_per_request
    benchmark.extra_info.update(gateway_rps=ours.rps, bare_rps=bare.rps, cpu_ratio=cpu)
    servers, _ = _cores()
    cores = len(servers) if servers else os.cpu_count() or 1
    placement = (f"servers on cores {sorted(servers)}, generator on {sorted(_cores()[1] or ())}"
                 if servers else "servers and generator share the cores")  # fmt: skip
    placement += f", each server under a CPU quota of {QUOTA:.2f} core" if not why else ""
    (bare_kind, bare_line), (ours_kind, ours_line) = bare.saturated(cores), ours.saturated(cores)
    with capsys.disabled():
        print(
            f"\ngateway-saturation  {MODULE}, --workers {WORKERS}: {ours.rps:.0f} req/s / "
            f"{bare.rps:.0f} req/s bare uvicorn; median of {len(ratios)} blocks {ratio:.2f}x "
            f"({' '.join(f'{r:.2f}' for r in ratios)});  server CPU/request "
            f"{ours.cpu_per_request * 1e6:.0f} / {bare.cpu_per_request * 1e6:.0f} us = "
            f"{cpu:.2f}x, implying {1 / cpu:.2f}x server-bound  ({2 * blocks} x {seconds:.0f} s "
            f"each, "
            f"{placement}; load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} "
            f"after)"
        )
        if not why:  # a quota weighs the CPU a server uses unloaded more than a core does
            print(f"  estimate on the {cores} server core(s) without a quota (the CPU a request "
                  f"costs beyond the unloaded CPU): {ours.capacity(cores):.0f} / "
                  f"{bare.capacity(cores):.0f} req/s = "
                  f"{ours.capacity(cores) / bare.capacity(cores):.2f}x, at the quota "
                  f"{ours.capacity(QUOTA) / bare.capacity(QUOTA):.2f}x")  # fmt: skip
        print(f"  gateway: {ours_line}")
        print(f"  bare:    {bare_line}")
        quota = f"{QUOTA:.2f} of a core each" if not why else ""
        print(f"  {verdict(bare_kind, ours_kind, ratio, 1 / cpu, quota)}" +
              (f" [{why}: measured without one]" if why else ""))  # fmt: skip
    assert ratio > 0
