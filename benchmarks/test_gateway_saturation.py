"""Gateway throughput under concurrent load: `sandbench serve` of hello-reactor against a
bare uvicorn app returning the same bytes, each driven by the same locust load test (open
model, offered far above what either serves), in the same run.

The figure is achieved requests per second, gateway / bare. Both servers, the generator
and this process share the machine's cores, so read the warnings printed beside it.
`make bench` runs 5 s per server; the smoke run in `make test` 1 s.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbench.bench.loadtest import LoadTestConfig, LoadTestResult, run_load_test

from .conftest import EXAMPLES
from .test_gateway_throughput import BARE_APP

BODY = b"hello from a reactor\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _load(command: list[str], port: int, path: str, cwd: Path, seconds: float) -> LoadTestResult:
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,  # noqa: S603
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"server did not start: {command}")
                time.sleep(0.05)
        config = LoadTestConfig(url=f"http://127.0.0.1:{port}", path=path, users=40,
                                rate=6000, duration_s=seconds)  # fmt: skip
        return run_load_test(config)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _both(tmp_path: Path, seconds: float) -> tuple[LoadTestResult, LoadTestResult]:
    (tmp_path / "bare.py").write_text(BARE_APP.format(body=BODY))
    bare_port, ours_port = _free_port(), _free_port()
    bare = _load([sys.executable, "-m", "uvicorn", "bare:app", "--port", str(bare_port),
                  "--http", "h11", "--no-access-log", "--log-level", "warning",
                  "--lifespan", "off"], bare_port, "/", tmp_path, seconds)  # fmt: skip
    ours = _load([str(Path(sys.executable).parent / "sandbench"), "serve",
                  str(EXAMPLES / "hello-reactor"), "--port", str(ours_port), "--instances", "2",
                  "--cache-dir", str(tmp_path)], ours_port, "/hello-reactor/", tmp_path,
                 seconds)  # fmt: skip
    return bare, ours


def test_gateway_saturation(benchmark, request, tmp_path, capsys):
    # One round: the figure is the achieved rate, not the round's time (which pytest-benchmark
    # records, but which includes starting both servers and locust).
    benchmark.group = "gateway-saturation"
    seconds = 1.0 if request.config.getoption("benchmark_disable") else 5.0
    bare, ours = benchmark.pedantic(_both, args=(tmp_path, seconds), rounds=1, iterations=1)
    assert bare.errors == ours.errors == 0
    ratio = ours.achieved_rps / bare.achieved_rps
    benchmark.extra_info.update(gateway_rps=ours.achieved_rps, bare_rps=bare.achieved_rps)
    with capsys.disabled():
        print(
            f"\ngateway-saturation  {ours.achieved_rps:.0f} req/s / {bare.achieved_rps:.0f} "
            f"req/s bare uvicorn = {ratio:.2f}x  (n={ours.requests} / {bare.requests}; "
            f"service p50 {ours.service_ms.median:.2f} / {bare.service_ms.median:.2f} ms)"
        )
        for note in [*bare.warnings, *ours.warnings]:
            print(f"  warning: {note}")
    assert ratio > 0
