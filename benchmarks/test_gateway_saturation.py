"""Gateway throughput under concurrent load: `sandbench serve` of hello-reactor against a
bare uvicorn app returning the same bytes, each driven by the same locust load test (open
model, offered far above what either serves), in the same run.

The figure is achieved requests per second, gateway / bare. Both servers, the generator
and this process share the machine's cores, so read the warnings printed beside it.
`make bench` runs 5 s per server; the smoke run in `make test` 1 s.
"""

from __future__ import annotations

from pathlib import Path

from sandbench.bench.loadtest import LoadTestConfig, LoadTestResult, run_load_test

from .conftest import EXAMPLES
from .servers import bare_command, free_port, running, serve_command

BODY = b"hello from a reactor\n"


def _load(command: list[str], port: int, path: str, cwd: Path, seconds: float) -> LoadTestResult:
    with running(command, port, cwd):
        config = LoadTestConfig(url=f"http://127.0.0.1:{port}", path=path, users=40,
                                rate=6000, duration_s=seconds)  # fmt: skip
        return run_load_test(config)


def _both(tmp_path: Path, seconds: float) -> tuple[LoadTestResult, LoadTestResult]:
    bare_port, ours_port = free_port(), free_port()
    bare = _load(bare_command(tmp_path, BODY, bare_port), bare_port, "/", tmp_path, seconds)
    ours_command = serve_command(EXAMPLES / "hello-reactor", ours_port, tmp_path)
    ours = _load(ours_command, ours_port, "/hello-reactor/", tmp_path, seconds)
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
