"""Servers the gateway benchmarks start in their own processes: a bare uvicorn app (the
baseline) and `sandbench serve`, each on a free loopback port, optionally pinned to some
cores; and the CPU time a server's processes used."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from .cpu_quota import CpuQuota

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


def bare_command(folder: Path, body: bytes, port: int, workers: int = 1) -> list[str]:
    """Write the bare app answering `body` into `folder`; the command that serves it."""
    (folder / "bare.py").write_text(BARE_APP.format(body=body))
    return [sys.executable, "-m", "uvicorn", "bare:app", "--port", str(port), "--http", "h11",
            "--no-access-log", "--log-level", "warning", "--lifespan", "off",
            *(["--workers", str(workers)] if workers > 1 else [])]  # fmt: skip


def serve_command(module: Path, port: int, cache: Path, workers: int = 1) -> list[str]:
    """The command that serves `module` through the sandbench gateway."""
    return [str(Path(sys.executable).parent / "sandbench"), "serve", str(module),
            "--port", str(port), "--instances", "2", "--cache-dir", str(cache),
            *(["--workers", str(workers)] if workers > 1 else [])]  # fmt: skip


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """CPU time of `process` and its children (workers) so far, in the scheduler's
    nanoseconds (`thread_times`; psutil's user and system times tick in 10 ms)."""
    return sum(run for run, _ in thread_times(tree(process)).values())


@contextlib.contextmanager
def pinned(cpus: set[int] | None) -> Iterator[None]:
    """This process (and what it starts meanwhile) on `cpus` for the block; None: unchanged."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextlib.contextmanager
def running(
    command: list[str],
    port: int,
    cwd: Path,
    cpus: set[int] | None = None,
    quota: CpuQuota | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` (on `cpus`, in the cgroup `quota`, when given) until the block ends,
    once it accepts connections on `port`."""
    with pinned(cpus):
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,  # noqa: S603
                                   stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        if quota is not None:
            # Moved in while the interpreter starts, before it spawns workers: they inherit.
            quota.add(process.pid)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"server did not start: {command}")
                time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def tree(process: subprocess.Popen[bytes]) -> list[int]:
    """The pids of `process` and its children (a server's workers)."""
    root = psutil.Process(process.pid)
    with contextlib.suppress(psutil.Error):
        return [root.pid, *(child.pid for child in root.children(recursive=True))]
    return [root.pid]


def thread_times(pids: list[int]) -> dict[tuple[int, int], tuple[float, float]]:
    """(seconds on a CPU, seconds runnable but waiting for one) of every thread of `pids`,
    keyed (pid, tid), from the scheduler's own accounting (`/proc/PID/task/TID/schedstat`).

    The wait tells a thread starved by other work from an idle one: both run little, only
    the starved one was waiting to run. A thread that was never idle (on a CPU or waiting
    for one all the time) had more work than CPU: the side it belongs to was saturated."""
    found: dict[tuple[int, int], tuple[float, float]] = {}
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as stat:
                    fields = stat.read().split()
                found[pid, int(tid)] = (int(fields[0]) / 1e9, int(fields[1]) / 1e9)
            except (OSError, ValueError, IndexError):
                continue
    return found


def busy_shares(
    before: dict[tuple[int, int], tuple[float, float]],
    after: dict[tuple[int, int], tuple[float, float]],
    span_s: float,
) -> dict[int, tuple[float, float]]:
    """Per process, the share of `span_s` its busiest thread (its event loop) was on a CPU
    or waiting for one, and the share all its threads were on a CPU, between two
    `thread_times` readings."""
    shares: dict[int, tuple[float, float]] = {}
    for (pid, tid), (run, wait) in after.items():
        run0, wait0 = before.get((pid, tid), (0.0, 0.0))
        busy, used = shares.get(pid, (0.0, 0.0))
        ran = run - run0
        shares[pid] = (max(busy, (ran + wait - wait0) / span_s), used + ran / span_s)
    return shares
