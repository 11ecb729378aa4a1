"""Gateway overhead: `sandbench serve` of a trivial WASM module against a bare uvicorn app
returning the same bytes, both in their own process on loopback, measured in the same run.

Each round sends `PER_ROUND` requests one after another on one keep-alive connection, so
the ratio of medians is the inverse ratio of single-connection throughput. The summary
(benchmarks/conftest.py) prints gateway / raw per module.
"""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest

from .conftest import EXAMPLES
from .servers import bare_command, free_port, running, serve_command

PER_ROUND = 20
BODIES = {"hello": b"hello from sandbench\n", "hello-reactor": b"hello from a reactor\n"}


def _round(connection: http.client.HTTPConnection, path: str) -> bytes:
    body = b""
    for _ in range(PER_ROUND):
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    return body


@pytest.fixture(params=sorted(BODIES))
def module(request) -> str:
    return request.param


def _measure(benchmark, command: list[str], port: int, cwd: Path, path: str) -> bytes:
    with running(command, port, cwd):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            return benchmark(_round, connection, path)
        finally:
            connection.close()


def test_gateway_raw_uvicorn(benchmark, module, tmp_path):
    benchmark.group = f"gateway-{module}"
    port = free_port()
    command = bare_command(tmp_path, BODIES[module], port)
    assert _measure(benchmark, command, port, tmp_path, "/") == BODIES[module]


def test_gateway_sandbench(benchmark, module, tmp_path):
    benchmark.group = f"gateway-{module}"
    port = free_port()
    command = serve_command(EXAMPLES / module, port, tmp_path)
    assert _measure(benchmark, command, port, tmp_path, f"/{module}/") == BODIES[module]
