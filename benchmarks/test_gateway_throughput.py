"""Gateway overhead: `sandbench serve` of a trivial WASM module against a bare uvicorn app
returning the same bytes, both in their own process on loopback, measured in the same run.

Each round sends `PER_ROUND` requests one after another on one keep-alive connection, so
the ratio of medians is the inverse ratio of single-connection throughput. The summary
(benchmarks/conftest.py) prints gateway / raw per module.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import EXAMPLES

PER_ROUND = 20
BODIES = {"hello": b"hello from sandbench\n", "hello-reactor": b"hello from a reactor\n"}
BARE_APP = """
BODY = {body!r}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({{"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(BODY)).encode())]}})
    await send({{"type": "http.response.body", "body": BODY}})
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(command: list[str], port: int, cwd: Path) -> Iterator[http.client.HTTPConnection]:
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
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        yield connection
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


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


def test_gateway_raw_uvicorn(benchmark, module, tmp_path):
    benchmark.group = f"gateway-{module}"
    (tmp_path / "bare.py").write_text(BARE_APP.format(body=BODIES[module]))
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "bare:app", "--port", str(port), "--http", "h11",
               "--no-access-log", "--log-level", "warning", "--lifespan", "off"]  # fmt: skip
    for connection in _serve(command, port, tmp_path):
        assert benchmark(_round, connection, "/") == BODIES[module]


def test_gateway_sandbench(benchmark, module, tmp_path):
    benchmark.group = f"gateway-{module}"
    port = _free_port()
    command = [str(Path(sys.executable).parent / "sandbench"), "serve", str(EXAMPLES / module),
               "--port", str(port), "--instances", "2", "--cache-dir", str(tmp_path)]  # fmt: skip
    for connection in _serve(command, port, tmp_path):
        assert benchmark(_round, connection, f"/{module}/") == BODIES[module]
