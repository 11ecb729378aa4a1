"""`sandbench bench` end to end on real wasmtime, uvicorn and locust (a few seconds each),
plus the in-process measurements and the renderers."""

from __future__ import annotations

import json
import os
import re
import time
import xml.dom.minidom

import pytest
from click.testing import CliRunner

from sandbench.bench.loadtest import LoadTestConfig
from sandbench.bench.measure import measure_invoke, measure_loads
from sandbench.bench.render import render_html, render_text
from sandbench.bench.sampler import Sampler
from sandbench.cli import cli
from sandbench.manifests import load
from sandbench.pipeline import bench
from sandbench.reports import Status
from sandbench.sandbox import (
    FakeBackend,
    Grants,
    Outcome,
    Request,
    Response,
    SandboxLimits,
    Usage,
    Violation,
    ViolationKind,
)
from tests.conftest import EXAMPLES

SHORT = LoadTestConfig(url="http://127.0.0.1", users=2, rate=100, duration_s=1)


@pytest.fixture(scope="module")
def hello_run(tmp_path_factory):
    from sandbench.sandbox.wasm import WasmBackend

    with WasmBackend(tmp_path_factory.mktemp("bench-cache")) as backend:
        return bench(EXAMPLES / "hello", load_test=SHORT, backend=backend, reps=3, invokes=20)


def test_bench_measures_every_stage(hello_run):
    health, result = hello_run
    assert health.status is Status.HEALTHY
    assert result.loads.cold_ms.n == result.loads.warm_ms.n == 3
    assert result.invoke.latency_ms.n == 20
    assert result.load_test.requests == 100
    assert result.load_test.config.path == "/hello/"
    assert [t.threshold for t in result.load_test.thresholds] == [
        "p95 < 100ms", "error_rate < 0.5%"]  # fmt: skip
    assert result.server, "the serving process was sampled"
    assert "cgroups" in result.skipped


def test_text_states_counts_and_spread(hello_run):
    health, result = hello_run
    text = render_text(result, health.status)
    assert text.startswith("@examples/hello 1.0.0: HEALTHY (wasmtime")
    assert "load cold    median" in text
    assert "(n=3, sd" in text
    assert "(n=100, sd" in text
    assert "threshold    error_rate < 0.5%: pass" in text


def test_html_has_the_plots_as_valid_svg(hello_run):
    health, result = hello_run
    page = render_html(result, health.status)
    plots = re.findall(r"<svg.*?</svg>", page, re.S)
    # issue 16: one unit per axis, so CPU and memory (and throughput and p99) are apart
    titles = [re.search(r"<title>(.*?)</title>", plot).group(1) for plot in plots]
    assert titles[:5] == [
        "Latency by percentile", "Throughput per second", "p99 latency per second",
        "Serving process: CPU", "Serving process: memory"]  # fmt: skip
    for plot in plots:
        xml.dom.minidom.parseString(plot)  # noqa: S318 - our own output


def test_a_module_that_does_not_load_skips_the_rest(tmp_path):
    backend = FakeBackend(load_violation=Violation(kind=ViolationKind.UNKNOWN_IMPORT, message="x"))
    health, result = bench(EXAMPLES / "hello", load_test=SHORT, backend=backend, reps=2)
    assert health.status is Status.CRITICAL
    assert result.loads.violation.kind is ViolationKind.UNKNOWN_IMPORT
    assert result.load_test is None
    assert set(result.skipped) == {"invoke", "load-test"}
    assert not result.passed


class _LoadsOnlyFiveTimes(FakeBackend):
    """A module that loads for the load-time figures, then no more (the sixth load)."""

    def load(self, *args, **kwargs):
        if len(self.loads) == 5:
            self.load_violation = Violation(kind=ViolationKind.UNKNOWN_IMPORT, message="gone")
        return super().load(*args, **kwargs)


def test_a_module_that_stops_loading_skips_the_calls_and_says_why():
    backend = _LoadsOnlyFiveTimes([Outcome(response=Response(status=200))])
    health, result = bench(EXAMPLES / "hello", load_test=SHORT, backend=backend, reps=2)
    assert result.loads.warm_ms.n == 2  # the load times were measured
    assert result.invoke is None
    assert result.load_test is None
    assert result.skipped == dict.fromkeys(("invoke", "load-test"),
                                           "the module did not load again: gone")  # fmt: skip
    assert health.status is Status.CRITICAL  # its health check could not load it either


def test_measure_loads_counts_cold_and_warm():
    package = load(EXAMPLES / "hello")
    backend = FakeBackend([Outcome(response=Response(status=200))], load_ms=2.0)
    loads = measure_loads(backend, package, SandboxLimits(), Grants(), reps=4)
    assert (loads.cold_ms.n, loads.warm_ms.n) == (4, 4)
    assert all(instance.closed for instance in backend.instances)


def test_measure_invoke_stops_at_a_violation():
    ok = Outcome(response=Response(status=200), usage=Usage(instantiate_ms=0.5, memory_bytes=9))
    bad = Outcome(violation=Violation(kind=ViolationKind.TRAP, message="boom"))
    backend = FakeBackend([ok, ok, bad])
    instance = backend.load(load(EXAMPLES / "hello"), SandboxLimits(), Grants()).instance
    measured = measure_invoke(instance, Request(), count=10)
    assert measured.latency_ms.n == 3
    assert measured.violation.kind is ViolationKind.TRAP
    assert measured.memory_bytes == 9
    with pytest.raises(ValueError, match="at least one"):
        measure_invoke(instance, Request(), count=0)


def test_sampler_reads_this_process():
    with Sampler([os.getpid()], interval_s=0.02, children=False) as sampler:
        time.sleep(0.1)
    assert len(sampler.samples) >= 2
    assert all(sample.rss_bytes > 0 for sample in sampler.samples)
    sampler.close()  # twice is harmless


def test_cli_bench_json_and_html(tmp_path):
    page = tmp_path / "bench.html"
    result = CliRunner().invoke(cli, [
        "bench", str(EXAMPLES / "hello"), "--users", "2", "--rate", "50", "--duration", "1",
        "--reps", "2", "--invokes", "5", "--format", "json", "--html", str(page),
        "--cache-dir", str(tmp_path / "cache"), "--threshold", "p99 < 10s",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["health"]["status"] == "healthy"
    assert data["bench"]["loadTest"]["thresholds"][0]["threshold"] == "p99 < 10s"
    assert "<svg" in page.read_text()


def test_cli_bench_fails_on_a_broken_threshold(tmp_path):
    result = CliRunner().invoke(cli, [
        "bench", str(EXAMPLES / "hostile" / "trap"), "--users", "2", "--rate", "20",
        "--duration", "1", "--reps", "1", "--invokes", "1",
        "--cache-dir", str(tmp_path / "cache"),
    ])  # fmt: skip
    assert result.exit_code == 1
    assert "threshold    error_rate < 0.5%: FAIL (observed 1)" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threshold", "p95 fast"], "expected METRIC OP VALUE"),
        (["--rate", "0"], "--rate"),
    ],
)
def test_cli_bench_bad_options_exit_2(args, message):
    result = CliRunner().invoke(cli, ["bench", str(EXAMPLES / "hello"), *args])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.docker
def test_a_container_module_is_sampled_through_its_cgroups():
    from sandbench.errors import BackendUnavailable
    from sandbench.pipeline import bench
    from sandbench.sandbox.container import ContainerBackend
    from tests.conftest import EXAMPLES

    try:
        ContainerBackend().close()
    except BackendUnavailable as exc:
        pytest.skip(f"no Docker Engine: {exc}")
    config = LoadTestConfig(url="http://127.0.0.1", users=2, rate=20, duration_s=2)
    run = bench(EXAMPLES / "python-http", load_test=config, reps=2, invokes=5, instances=1)
    samples = run.bench.containers
    assert len(samples) >= 4  # every 0.25 s for 2 s, and one at the end
    assert all(s.rss_bytes > 1024 * 1024 for s in samples)  # the container's memory in use
    assert max(s.cpu_percent for s in samples) > 0
    assert "cgroups" not in run.bench.skipped


def test_the_load_test_goes_into_the_health_report():
    from sandbench.pipeline import bench
    from tests.conftest import EXAMPLES

    config = LoadTestConfig(url="http://127.0.0.1", users=2, rate=40, duration_s=1)
    run = bench(EXAMPLES / "hello-reactor", load_test=config, reps=2, invokes=5, instances=1)
    assert run.health.load_test is not None
    assert run.health.load_test.requests == run.bench.load_test.requests
    assert "load-test" in [r.rule for r in run.health.rules]
    assert [s.check_id for s in run.health.skipped] == ["scanners"]
