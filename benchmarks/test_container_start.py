"""Start-to-first-response of a container module: sandbench against a bare `docker run`.

Both start the same image with the same command and module tree and time until the first
HTTP answer. The baseline (`raw`) is `containers.run` with no limits and the default bridge
network, polled over the container's bridge address; sandbench adds its hardening, the
namespace dialer, the cgroup reader and the log follower. A third variant takes a container
that `prewarm` started before the timed part (a warm pool of one). The summary prints the
ratio of the medians from this same run. Each round's container is removed in the next round's
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


def _rounds(
    benchmark: Any,
    start: Callable[[], Any],
    stop: Callable[[Any], None],
    prepare: Callable[[], None] = lambda: None,
) -> Any:
    live: list[Any] = []

    def setup() -> None:
        while live:
            stop(live.pop())
        prepare()

    def run() -> Any:
        live.append(start())
        return live[-1]

    try:
        return benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    finally:
        while live:
            stop(live.pop())


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


LIMITS = SandboxLimits(memory_bytes=64_000_000, cpu_millicores=500)


def test_container_start_sandbench(benchmark, engine):
    benchmark.group = "container-start"
    package = load(MODULE)
    limits = LIMITS

    def start() -> Any:
        result = engine.load(package, limits, Grants())
        assert result.instance is not None, result.violation
        outcome = result.instance.invoke(Request())
        assert outcome.ok, outcome
        return result.instance

    instance = _rounds(benchmark, start, lambda i: i.close())
    assert instance is not None


def test_container_start_sandbench_warm_pool(benchmark, engine):
    """The same, with one container started ahead by `prewarm` (outside the timed part)."""
    benchmark.group = "container-start"
    package = load(MODULE)

    def start() -> Any:
        result = engine.load(package, LIMITS, Grants())
        assert result.cache_hit, "not from the warm pool"
        assert result.instance is not None, result.violation
        assert result.instance.invoke(Request()).ok
        return result.instance

    instance = _rounds(
        benchmark, start, lambda i: i.close(), lambda: engine.prewarm(package, LIMITS, Grants())
    )
    assert instance is not None
