"""Servers the gateway benchmarks start in their own processes: a bare uvicorn app (the
baseline) and `sandbench serve`, each on a free loopback port."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bare_command(folder: Path, body: bytes, port: int) -> list[str]:
    """Write the bare app answering `body` into `folder`; the command that serves it."""
    (folder / "bare.py").write_text(BARE_APP.format(body=body))
    return [sys.executable, "-m", "uvicorn", "bare:app", "--port", str(port), "--http", "h11",
            "--no-access-log", "--log-level", "warning", "--lifespan", "off"]  # fmt: skip


def serve_command(module: Path, port: int, cache: Path) -> list[str]:
    """The command that serves `module` through the sandbench gateway."""
    return [str(Path(sys.executable).parent / "sandbench"), "serve", str(module),
            "--port", str(port), "--instances", "2", "--cache-dir", str(cache)]  # fmt: skip


@contextlib.contextmanager
def running(command: list[str], port: int, cwd: Path) -> Iterator[None]:
    """Run `command` until the block ends, once it accepts connections on `port`."""
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
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)
