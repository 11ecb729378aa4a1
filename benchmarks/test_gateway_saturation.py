"""Gateway throughput under concurrent load: `sandbench serve --workers N` against bare
uvicorn with as many workers returning the same bytes, each driven by the same locust load
test (open model, offered far above what either serves), in the same run.

The servers are pinned to every core but the last, the generator (locust, and this
process while it waits) to the last one, so they do not take each other's CPU. Both
servers run side by side and are loaded bare, gateway, gateway, bare. Printed, gateway /
bare: achieved requests per second, and server CPU per request (the scheduler's on-CPU
time of every server thread over the tests; steady under load, whatever else runs) with
the throughput ratio it implies for a server-bound run (bare CPU / gateway CPU).

A rate is a server's capacity only when the server was the bottleneck, so for each side
the benchmark says what saturated, from the scheduler's accounting of the tests' span
(`/proc/PID/task/TID/schedstat`: time on a CPU, and time runnable but waiting for one):

    server saturated      its threads were on a CPU or waiting for one >= BUSY of the
                          time its cores had ("contended" when other work held part of
                          them: the rate is then the server's on the CPU it got)
    generator saturated   locust's busiest process was, >= BUSY of the time
    neither               nor was either: the run measured something else

and a last line, VERDICT, judges issue 17's target (at least 0.7x) on the throughput
ratio when both servers saturated on cores of their own, on the CPU-implied ratio when
they saturated on cores shared with other work, and not at all otherwise.

Standalone, for a quiet machine (the figures docs/bench.md quotes):

    .venv/bin/python -m pytest benchmarks/test_gateway_saturation.py -q -s -p no:cacheprovider

`SANDBENCH_SATURATION_S` (seconds per load test, default 5; the smoke run of `make test`
takes 1), `SANDBENCH_SATURATION_WORKERS` (default 2) and `SANDBENCH_SATURATION_MODULE`
(`hello-reactor` or `hello`) change the run.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import psutil

from sandbench.bench.loadtest import LoadTestConfig, LoadTestResult, run_load_test

from .conftest import EXAMPLES
from .servers import (
    bare_command,
    free_port,
    pinned,
    running,
    sched_seconds,
    serve_command,
    tree,
)

BODIES = {"hello": b"hello from sandbench\n", "hello-reactor": b"hello from a reactor\n"}
MODULE = os.environ.get("SANDBENCH_SATURATION_MODULE", "hello-reactor")
WORKERS = int(os.environ.get("SANDBENCH_SATURATION_WORKERS", "2"))
SETTLE_S = 3.0  # after the port answers, for every worker to be listening too
USERS = 100  # connections at once: enough to keep both workers busy despite latency
BUSY = 0.85  # of the time a side could run: that side is what limited the rate
TARGET = 0.7  # issue 17: the gateway at least 0.7x bare uvicorn's throughput
_SAMPLE_S = 0.2


def _cores() -> tuple[set[int] | None, set[int] | None]:
    """(server cores, generator cores); None, None on a single core (nothing to split)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    return set(cores[:-1]), {cores[-1]}


class _Generator:
    """Samples the scheduler's accounting of this process's children other than the
    servers (locust's processes) while a load test runs; `busiest()` is the most any one
    of them was on a CPU or waiting for one, per second it was seen."""

    def __init__(self, servers: set[int]) -> None:
        self._servers = servers
        self._seen: dict[int, tuple[float, float, float]] = {}  # pid: first (t, run, wait)
        self._last: dict[int, tuple[float, float, float]] = {}
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
            for child in children:
                if child.pid not in self._servers:
                    run, wait = sched_seconds([child.pid])
                    self._seen.setdefault(child.pid, (now, run, wait))
                    self._last[child.pid] = (now, run, wait)

    def busiest(self) -> tuple[float, float]:
        """(on a CPU or waiting for one, on a CPU), as shares of the time, of the busiest
        generator process seen for at least a second; (0, 0) when none was."""
        found = [(0.0, 0.0)]
        for pid, (t0, run0, wait0) in self._seen.items():
            t1, run1, wait1 = self._last[pid]
            if t1 - t0 >= 1.0:
                span = t1 - t0
                found.append((((run1 - run0) + (wait1 - wait0)) / span, (run1 - run0) / span))
        return max(found)


class _Side:
    """One server under load tests: the results and what its processes used meanwhile."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], port: int, path: str) -> None:
        self.name, self.process, self.port, self.path = name, process, port, path
        self.results: list[LoadTestResult] = []
        self.run_s = self.wait_s = 0.0
        self.generator: list[tuple[float, float]] = []

    def load(self, seconds: float, servers: set[int]) -> None:
        _, cores = _cores()
        config = LoadTestConfig(url=f"http://127.0.0.1:{self.port}", path=self.path, users=USERS,
                                rate=20000, duration_s=seconds)  # fmt: skip
        pids = tree(self.process)
        run, wait = sched_seconds(pids)
        with pinned(cores), _Generator(servers) as generator:  # locust inherits the cores
            self.results.append(run_load_test(config))
        after = sched_seconds(pids)
        self.run_s += after[0] - run
        self.wait_s += after[1] - wait
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

    def saturated(self, cores: int) -> tuple[str, str]:
        """(what saturated: "server", "contended server", "generator" or "neither", and the
        line that says so with the figures)."""
        # The load tests' wall time includes locust's start and end, when the server idles:
        # count the server's CPU against the span it was sent requests.
        used = self.run_s / self.span_s / cores
        wanted = (self.run_s + self.wait_s) / self.span_s / cores
        demand = min(d for d, _ in self.generator)
        generator_cpu = min(r for _, r in self.generator)
        if used >= BUSY:
            kind, text = "server", "server saturated"
        elif wanted >= BUSY:
            kind = "contended server"
            text = f"server saturated on contended cores: other work held {1 - used:.0%} of them"
        elif demand >= BUSY:
            kind, text = "generator", "generator saturated"
        else:
            kind, text = "neither", "neither saturated: the run measured the machine's other work"
        if kind.endswith("server") and demand >= BUSY:
            text += ", the generator too"
        figures = (f"server on a CPU {used:.2f} of its {cores} core(s), on one or waiting "
                   f"{wanted:.2f}; locust's busiest process on a CPU {generator_cpu:.0%} of a "
                   f"core, on one or waiting {demand:.0%}")  # fmt: skip
        return kind, f"{text} ({figures})"


def _both(tmp_path: Path, seconds: float) -> tuple[_Side, _Side]:
    """Both servers up side by side, load-tested bare, ours, ours, bare: a drift in the
    machine's other load falls on both alike."""
    servers, _ = _cores()
    bare_port, ours_port = free_port(), free_port()
    bare_cmd = bare_command(tmp_path, BODIES[MODULE], bare_port, workers=WORKERS)
    ours_cmd = serve_command(EXAMPLES / MODULE, ours_port, tmp_path, workers=WORKERS)
    with (
        running(bare_cmd, bare_port, tmp_path, servers) as bare_process,
        running(ours_cmd, ours_port, tmp_path, servers) as ours_process,
    ):
        time.sleep(SETTLE_S)
        bare = _Side("bare", bare_process, bare_port, "/")
        ours = _Side("gateway", ours_process, ours_port, f"/{MODULE}/")
        server_pids = set(tree(bare_process) + tree(ours_process))
        for side in (bare, ours, ours, bare):
            side.load(seconds, server_pids)
    return bare, ours


def verdict(bare: str, ours: str, ratio: float, implied: float) -> str:
    """The VERDICT line: which figure judges the target, given what saturated on each side."""
    if bare == ours == "server":
        met = "met" if ratio >= TARGET else "NOT met"
        return (f"VERDICT: both servers saturated on cores of their own: throughput "
                f"{ratio:.2f}x bare uvicorn, target >= {TARGET}x {met}")  # fmt: skip
    if {bare, ours} <= {"server", "contended server"}:
        met = "met" if implied >= TARGET else "NOT met"
        return (f"VERDICT: both servers saturated, on cores other work shared: judged on "
                f"throughput per server CPU-second, {implied:.2f}x bare uvicorn, target >= "
                f"{TARGET}x {met} (the rates, {ratio:.2f}x, got unequal CPU)")  # fmt: skip
    starved = ", ".join(f"{name}: {kind}" for name, kind in (("bare", bare), ("gateway", ours))
                        if kind not in ("server", "contended server"))  # fmt: skip
    return (f"VERDICT: not a server-bound comparison ({starved} saturated, not the server): "
            f"the rates say nothing about capacity; server CPU per request implies "
            f"{implied:.2f}x for a server-bound run (target >= {TARGET}x); run it again on a "
            f"quieter machine")  # fmt: skip


def test_gateway_saturation(benchmark, request, tmp_path, capsys):
    # One round: the figure is the achieved rate, not the round's time (which pytest-benchmark
    # records, but which includes starting both servers and locust).
    benchmark.group = "gateway-saturation"
    smoke = request.config.getoption("benchmark_disable")
    seconds = 1.0 if smoke else float(os.environ.get("SANDBENCH_SATURATION_S", "5"))
    load_before = os.getloadavg()
    bare, ours = benchmark.pedantic(_both, args=(tmp_path, seconds), rounds=1, iterations=1)
    assert all(r.errors == 0 for r in [*bare.results, *ours.results])
    ratio = ours.rps / bare.rps
    cpu = ours.cpu_per_request / bare.cpu_per_request
    benchmark.extra_info.update(gateway_rps=ours.rps, bare_rps=bare.rps, cpu_ratio=cpu)
    servers, _ = _cores()
    cores = len(servers) if servers else os.cpu_count() or 1
    placement = (f"servers on cores {sorted(servers)}, generator on the last" if servers
                 else "one core: servers and generator share it")  # fmt: skip
    (bare_kind, bare_line), (ours_kind, ours_line) = bare.saturated(cores), ours.saturated(cores)
    with capsys.disabled():
        print(
            f"\ngateway-saturation  {MODULE}, --workers {WORKERS}: {ours.rps:.0f} req/s / "
            f"{bare.rps:.0f} req/s bare uvicorn = {ratio:.2f}x;  server CPU/request "
            f"{ours.cpu_per_request * 1e6:.0f} / {bare.cpu_per_request * 1e6:.0f} us = "
            f"{cpu:.2f}x, implying {1 / cpu:.2f}x server-bound  (2 x {seconds:.0f} s each, "
            f"{placement}; load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} "
            f"after)"
        )
        print(f"  gateway: {ours_line}")
        print(f"  bare:    {bare_line}")
        print(f"  {verdict(bare_kind, ours_kind, ratio, 1 / cpu)}")
    assert ratio > 0
