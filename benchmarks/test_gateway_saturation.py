"""Gateway throughput under concurrent load: `sandbench serve --workers N` of hello-reactor
against bare uvicorn with as many workers returning the same bytes, each driven by the
same locust load test (open model, offered far above what either serves), in the same run.

The servers are pinned to every core but the last, the generator (locust, and this
process while it waits) to the last one, so they do not take each other's CPU. Both
servers run side by side and are loaded bare, gateway, gateway, bare. The figures:
achieved requests per second and server CPU per request, gateway / bare, and for each side
what saturated: the server's processes (CPU used over the tests, in cores, against the
cores they had), the generator (its busiest process, in % of a core), or neither (other
work on the machine held the cores: the rate then measures the machine, not the server).
`make bench` runs 2 x 5 s per server; the smoke run in `make test` 2 x 1 s.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from sandbench.bench.loadtest import LoadTestConfig, LoadTestResult, run_load_test
from sandbench.bench.stats import summarize

from .conftest import EXAMPLES
from .servers import bare_command, cpu_seconds, free_port, pinned, running, serve_command

BODY = b"hello from a reactor\n"
WORKERS = 2
SETTLE_S = 3.0  # after the port answers, for every worker to be listening too
USERS = 100  # connections at once: enough to keep both workers busy despite latency
BUSY = 0.85  # of the CPU a side had: that side is what limited the rate


def _cores() -> tuple[set[int] | None, set[int] | None]:
    """(server cores, generator cores); None, None on a single core (nothing to split)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    return set(cores[:-1]), {cores[-1]}


class _Side:
    """One server under load tests: the results and what its processes used meanwhile."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, path: str) -> None:
        self.process, self.port, self.path = process, port, path
        self.results: list[LoadTestResult] = []
        self.cpu_s = 0.0

    def load(self, seconds: float) -> None:
        _, generator = _cores()
        config = LoadTestConfig(url=f"http://127.0.0.1:{self.port}", path=self.path, users=USERS,
                                rate=20000, duration_s=seconds)  # fmt: skip
        before = cpu_seconds(self.process)
        with pinned(generator):  # locust's processes inherit this process's cores
            self.results.append(run_load_test(config))
        self.cpu_s += cpu_seconds(self.process) - before

    @property
    def span_s(self) -> float:
        """Seconds the tests sent requests (from first to last: locust's start-up left out)."""
        return sum(r.requests / r.achieved_rps for r in self.results)

    @property
    def rps(self) -> float:
        return sum(r.requests for r in self.results) / self.span_s

    @property
    def cpu_per_request(self) -> float:
        return self.cpu_s / sum(r.requests for r in self.results)

    def saturated(self, cores: int) -> str:
        """Which side ran out of CPU: the server's processes, the generator, or neither
        (then the machine's other work took the cores)."""
        server = self.cpu_s / self.span_s
        samples = [s for r in self.results for s in r.generator[1:]]
        generator = summarize([s.busiest_percent for s in samples]).median if samples else 0.0
        machine = summarize([s.machine_cpu_percent for s in samples]).median if samples else 0.0
        if server / cores >= BUSY:
            side = "server saturated"
        elif generator / 100 >= BUSY:
            side = "generator saturated"
        else:
            side = f"neither saturated: other work held the cores (machine at {machine:.0f}%)"
        return (f"{side} (server {server:.2f} of {cores} cores, generator's busiest process "
                f"{generator:.0f}% of a core)")  # fmt: skip


def _both(tmp_path: Path, seconds: float) -> tuple[_Side, _Side]:
    """Both servers up side by side, load-tested bare, ours, ours, bare: a drift in the
    machine's other load falls on both alike."""
    servers, _ = _cores()
    bare_port, ours_port = free_port(), free_port()
    bare_cmd = bare_command(tmp_path, BODY, bare_port, workers=WORKERS)
    ours_cmd = serve_command(EXAMPLES / "hello-reactor", ours_port, tmp_path, workers=WORKERS)
    with (
        running(bare_cmd, bare_port, tmp_path, servers) as bare_process,
        running(ours_cmd, ours_port, tmp_path, servers) as ours_process,
    ):
        time.sleep(SETTLE_S)
        bare = _Side(bare_process, bare_port, "/")
        ours = _Side(ours_process, ours_port, "/hello-reactor/")
        for side in (bare, ours, ours, bare):
            side.load(seconds)
    return bare, ours


def test_gateway_saturation(benchmark, request, tmp_path, capsys):
    # One round: the figure is the achieved rate, not the round's time (which pytest-benchmark
    # records, but which includes starting both servers and locust).
    benchmark.group = "gateway-saturation"
    seconds = 1.0 if request.config.getoption("benchmark_disable") else 5.0
    bare, ours = benchmark.pedantic(_both, args=(tmp_path, seconds), rounds=1, iterations=1)
    assert all(r.errors == 0 for r in [*bare.results, *ours.results])
    ratio = ours.rps / bare.rps
    cpu = ours.cpu_per_request / max(bare.cpu_per_request, 1e-9)  # CPU times tick in 10 ms
    benchmark.extra_info.update(gateway_rps=ours.rps, bare_rps=bare.rps, cpu_ratio=cpu)
    servers, _ = _cores()
    cores = len(servers) if servers else os.cpu_count() or 1
    placement = (f"servers on cores {sorted(servers)}, generator on the last" if servers
                 else "one core: servers and generator share it")  # fmt: skip
    with capsys.disabled():
        print(
            f"\ngateway-saturation  --workers {WORKERS}: {ours.rps:.0f} req/s / {bare.rps:.0f} "
            f"req/s bare uvicorn = {ratio:.2f}x;  server CPU/request "
            f"{ours.cpu_per_request * 1e6:.0f} / {bare.cpu_per_request * 1e6:.0f} us = "
            f"{cpu:.2f}x  (2 x {seconds:.0f} s each, {placement})"
        )
        print(f"  gateway: {ours.saturated(cores)}")
        print(f"  bare:    {bare.saturated(cores)}")
    assert ratio > 0
