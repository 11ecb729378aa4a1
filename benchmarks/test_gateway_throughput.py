"""Gateway overhead: `sandbench serve` of a trivial WASM module against a bare uvicorn app
returning the same bytes, both in their own process on loopback, measured in the same run.

Each round sends `PER_ROUND` requests one after another on one keep-alive connection. Both
servers run side by side and the rounds alternate between them (bare, ours, ours, bare,
...), so that a burst of load from the rest of the machine falls on both alike: on a
shared machine, timing all of one server's rounds and then all of the other's gave ratios
from 0.8x to 5x for the same code. Two figures per module, gateway / bare:

    time per request     median of the rounds' wall time per request (what a client sees)
    server CPU/request   CPU the server's processes used over all rounds, per request
                         (not stretched by waiting for a core: the steadier figure here)
"""

from __future__ import annotations

import http.client
import statistics
import subprocess
import time

import pytest

from .conftest import EXAMPLES
from .servers import bare_command, cpu_seconds, free_port, running, serve_command

PER_ROUND = 20
BODIES = {"hello": b"hello from sandbench\n", "hello-reactor": b"hello from a reactor\n"}


class _Side:
    """One server, its keep-alive connection and what its rounds measured."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, path: str) -> None:
        self.process = process
        self.path = path
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.walls: list[float] = []
        self.cpu_s = 0.0
        self.body = b""

    def round(self, keep: bool = True) -> None:
        cpu = cpu_seconds(self.process)
        started = time.perf_counter()
        for _ in range(PER_ROUND):
            self.connection.request("GET", self.path)
            self.body = self.connection.getresponse().read()
        wall = time.perf_counter() - started
        if keep:
            self.walls.append(wall / PER_ROUND)
            self.cpu_s += cpu_seconds(self.process) - cpu

    @property
    def cpu_per_request(self) -> float:
        return self.cpu_s / (len(self.walls) * PER_ROUND)


def _alternate(bare: _Side, ours: _Side, rounds: int) -> None:
    for side in (bare, ours):  # warm both: connections, caches, the fuel rate
        side.round(keep=False)
    for index in range(rounds):
        order = (bare, ours) if index % 2 == 0 else (ours, bare)
        for side in order:
            side.round()


@pytest.mark.parametrize("module", sorted(BODIES))
def test_gateway_time_per_request(benchmark, request, module, tmp_path, capsys):
    benchmark.group = f"gateway-{module}"
    rounds = 2 if request.config.getoption("benchmark_disable") else 60
    bare_port, ours_port = free_port(), free_port()
    bare_cmd = bare_command(tmp_path, BODIES[module], bare_port)
    ours_cmd = serve_command(EXAMPLES / module, ours_port, tmp_path)
    with (
        running(bare_cmd, bare_port, tmp_path) as bare_process,
        running(ours_cmd, ours_port, tmp_path) as ours_process,
    ):
        bare = _Side(bare_process, bare_port, "/")
        ours = _Side(ours_process, ours_port, f"/{module}/")
        benchmark.pedantic(_alternate, args=(bare, ours, rounds), rounds=1, iterations=1)
        for side in (bare, ours):
            side.connection.close()
    assert bare.body == ours.body == BODIES[module]
    wall = statistics.median(ours.walls) / statistics.median(bare.walls)
    benchmark.extra_info.update(wall_ratio=wall)
    # Process CPU times tick in 10 ms: the smoke run's few requests may not reach one.
    cpu = "n/a (below the CPU clock's resolution)"
    if bare.cpu_s > 0:
        benchmark.extra_info.update(cpu_ratio=ours.cpu_per_request / bare.cpu_per_request)
        cpu = (f"{ours.cpu_per_request * 1e6:.0f} / {bare.cpu_per_request * 1e6:.0f} us = "
               f"{ours.cpu_per_request / bare.cpu_per_request:.2f}x")  # fmt: skip
    with capsys.disabled():
        print(f"\ngateway-{module:<14} time per request {_us(ours.walls)} / {_us(bare.walls)} "
              f"bare uvicorn = {wall:.2f}x;  server CPU/request {cpu}  "
              f"({rounds} alternating rounds of {PER_ROUND})")  # fmt: skip
    assert wall > 0


def _us(walls: list[float]) -> str:
    """Median and interquartile range of per-request times, in µs."""
    q1, median, q3 = statistics.quantiles(walls, n=4) if len(walls) > 1 else walls * 3
    return f"{median * 1e6:.0f} us (IQR {(q3 - q1) * 1e6:.0f})"
