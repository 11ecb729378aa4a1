"""Start-to-first-response of a container module: sandbench against a bare `docker run`.

Both start the same image with the same command and module tree and time until the first
HTTP answer. The baseline (`raw`) is `containers.run` with no limits and the default bridge
network, polled over the container's bridge address; sandbench adds its hardening, the
namespace dialer, the cgroup reader and the log follower. The summary prints the ratio of
the medians from this same run. Each round's container is removed in the next round's
setup, outside the timed part.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbench.errors import BackendUnavailable
from sandbench.manifests import load
from sandbench.sandbox import Grants, Request, SandboxLimits
from sandbench.sandbox.container import ContainerBackend

from .conftest import EXAMPLES

MODULE = EXAMPLES / "python-http"
ROUNDS = 5


@pytest.fixture(scope="module")
def engine() -> Iterator[ContainerBackend]:
    try:
        backend = ContainerBackend()
    except BackendUnavailable as exc:
        pytest.skip(f"no Docker Engine: {exc}")
    with backend:
        yield backend


def _rounds(benchmark: Any, start: Callable[[], Any], stop: Callable[[Any], None]) -> Any:
    live: list[Any] = []

    def setup() -> None:
        while live:
            stop(live.pop())

    def run() -> Any:
        live.append(start())
        return live[-1]

    try:
        return benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    finally:
        setup()


def test_container_start_raw_docker_run(benchmark, engine):
    benchmark.group = "container-start"
    runtime = load(MODULE).manifest.runtime
    client = engine.client

    def start() -> Any:
        container = client.containers.run(
            runtime.image,
            list(runtime.command),
            detach=True,
            environment={"PORT": str(runtime.port)},
            volumes={str(MODULE): {"bind": "/module", "mode": "ro"}},
            labels={"org.sandbench.bench": "raw"},
        )
        container.reload()
        address = container.attrs["NetworkSettings"]["IPAddress"]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            connection = http.client.HTTPConnection(address, runtime.port, timeout=2)
            try:
                connection.request("GET", "/")
                if connection.getresponse().status == 200:
                    return container
            except OSError:
                time.sleep(0.005)
            finally:
                connection.close()
        raise AssertionError("the bare container never answered")

    container = _rounds(benchmark, start, lambda c: c.remove(force=True))
    assert container is not None


def test_container_start_sandbench(benchmark, engine):
    benchmark.group = "container-start"
    package = load(MODULE)
    limits = SandboxLimits(memory_bytes=64_000_000, cpu_millicores=500)

    def start() -> Any:
        result = engine.load(package, limits, Grants())
        assert result.instance is not None, result.violation
        outcome = result.instance.invoke(Request())
        assert outcome.ok, outcome
        return result.instance

    instance = _rounds(benchmark, start, lambda i: i.close())
    assert instance is not None
