"""`sandbench serve --workers N`: N processes answering on one port, each with its own
gateway, backend and pools; each module's CPU share is one for all of them.

The supervisor (the process the user started) reserves the port with `SO_REUSEPORT`
without listening on it, so port 0 works and the port is known at once; each worker binds
its own listening socket to that port, and the kernel spreads new connections over the
workers by their addresses. Workers are spawned (not forked: the supervisor may hold
threads), load their modules, say "ready" through a pipe and serve until signalled.
Every module's CPU bucket lives in a folder of shared files (`budget.share_budgets`), and
so do the workers' metric tallies, which a scrape of any worker sums (`metrics.py`).

SIGINT (Ctrl-C reaches every process of the terminal's group) or SIGTERM (to the
supervisor, which passes it on) stops all workers; one still running 20 s later is killed.
A worker also gets SIGTERM if the supervisor dies. A worker that exits on its own stops
the others and the supervisor reports it.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from sandbench.errors import SandboxError
from sandbench.sandbox import BackendKind, CompileBounds, open_backend
from sandbench.sandbox.budget import share_budgets
from sandbench.sandbox.scratch import scratch_dir

from .gateway import Gateway, ModuleSpec
from .server import _stop, _Stopped, bind, serve_until_signalled

__all__ = ["WorkerPlan", "serve_workers"]

START_TIMEOUT_S = 120.0  # a bound on loading every module in every worker
STOP_TIMEOUT_S = 20.0
PUBLISH_S = 1.0  # how late a scrape may see the other workers' counts
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class WorkerPlan:
    """What each worker serves and how: sent to the worker process (picklable)."""

    specs: list[ModuleSpec]
    backend: BackendKind
    cache_dir: Path | None
    listen: str
    port: int
    instances: int
    budgets: Path
    compile_bounds: CompileBounds


def serve_workers(
    specs: list[ModuleSpec],
    *,
    backend: BackendKind,
    cache_dir: Path | None,
    listen: str,
    port: int,
    instances: int,
    workers: int,
    announce: Callable[[str], None],
    compile_bounds: CompileBounds | None = None,
) -> None:
    """Serve `specs` from `workers` processes on `listen`:`port` until SIGTERM or SIGINT,
    then stop them all and remove the shared budgets; `announce` hears the first worker's
    module states and the address. Each worker compiles within `compile_bounds`.

    Raises `SandboxError` when the address cannot be bound, a worker cannot start within
    `START_TIMEOUT_S` or one exits on its own.
    """
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    budgets = scratch_dir("budgets")
    reserved = bind(listen, port, reuse_port=True, listen=False)
    processes: list[BaseProcess] = []
    try:
        plan = WorkerPlan(specs, backend, cache_dir, listen, reserved.getsockname()[1],
                          instances, budgets, compile_bounds or CompileBounds())  # fmt: skip
        processes, pipes = _spawn(plan, workers)
        states = _wait_ready(processes, pipes)
        for route, state in states.items():
            announce(f"/{route}/ {state}")
        shown = f"[{listen}]" if ":" in listen else listen
        announce(f"serving on http://{shown}:{plan.port} ({workers} workers)")
        _watch(processes)
    except _Stopped:
        pass
    finally:
        _stop_all(processes)
        reserved.close()
        shutil.rmtree(budgets, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _spawn(plan: WorkerPlan, workers: int) -> tuple[list[BaseProcess], list[Connection]]:
    context = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = []
    pipes: list[Connection] = []
    for index in range(workers):
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(target=_worker, args=(index, plan, writer),
                                  name=f"sandbench-worker-{index}", daemon=False)  # fmt: skip
        process.start()
        writer.close()
        processes.append(process)
        pipes.append(reader)
    return processes, pipes


def _wait_ready(processes: list[BaseProcess], pipes: list[Connection]) -> dict[str, str]:
    """Each worker's "ready" message; the first worker's module states."""
    states: dict[int, dict[str, str]] = {}
    deadline = time.monotonic() + START_TIMEOUT_S
    waiting = dict(enumerate(pipes))
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SandboxError(f"the workers did not start within {START_TIMEOUT_S:.0f} s")
        ready = multiprocessing.connection.wait(list(waiting.values()), timeout=left)
        for index in [i for i, pipe in waiting.items() if pipe in ready]:
            pipe = waiting.pop(index)
            try:
                kind, value = pipe.recv()
            except EOFError:
                code = processes[index].exitcode
                raise SandboxError(f"worker {index} exited while starting (code {code})") from None
            if kind == "error":
                raise SandboxError(f"worker {index}: {value}")
            states[index] = value
    return states[0]


def _watch(processes: list[BaseProcess]) -> None:
    """Return only by a signal (`_Stopped`); raise when a worker exits on its own."""
    sentinels = {process.sentinel: process for process in processes}
    while True:
        for ended in multiprocessing.connection.wait(list(sentinels), timeout=1.0):
            process = sentinels[ended]  # type: ignore[index]
            process.join()
            raise SandboxError(
                f"{process.name} exited on its own (code {process.exitcode}); stopped the others"
            )


def _stop_all(processes: list[BaseProcess]) -> None:
    """SIGTERM every worker still running, then SIGKILL what is left after the timeout."""
    for process in processes:
        if process.exitcode is None:
            process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.exitcode is None:
            process.kill()
            process.join()
    # Spawning started multiprocessing's resource tracker, which leaves on its own only once
    # it notices that every process holding its pipe is gone: stop it now and wait for it,
    # so that nothing of ours runs after the command returns.
    with contextlib.suppress(Exception):
        resource_tracker._resource_tracker._stop()  # type: ignore[attr-defined]


def _worker(index: int, plan: WorkerPlan, ready: Connection) -> None:
    """One worker: load, say ready, serve until signalled, release, leave at once.

    Ends with `os._exit`, as the console script does (`sandbench._entry`): wasmtime's
    threads must not outlive interpreter finalization.
    """
    _die_with_parent()
    code = 0
    try:
        _serve_one(index, plan, ready)
    except KeyboardInterrupt:
        code = 0
    except Exception as exc:  # reported to the supervisor, which prints one line
        with contextlib.suppress(OSError):
            ready.send(("error", str(exc)))
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _serve_one(index: int, plan: WorkerPlan, ready: Connection) -> None:
    from sandbench.interrupts import Terminated, watch_signals

    def terminated(signum: int, _frame: object) -> None:
        raise Terminated(signum)

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, terminated)
    watch_signals()  # a signal also ends a running WASM call (interrupts.py)
    share_budgets(plan.budgets)
    backend = open_backend(plan.backend, plan.cache_dir, plan.compile_bounds)
    try:
        identity = {"worker": index, "pid": os.getpid()}
        with Gateway(plan.specs, backend, instances=plan.instances, identity=identity) as gateway:
            gateway.metrics.share(plan.budgets, f"worker-{index}")
            states = gateway.start()
            sock = bind(plan.listen, plan.port, reuse_port=True)
            publisher = _Publisher(gateway)
            try:
                ready.send(("ready", states))
                ready.close()
                serve_until_signalled(gateway, sock)
            finally:
                publisher.close()
                sock.close()
    finally:
        backend.close()


class _Publisher:
    """Writes the gateway's metric tallies for the other workers every `PUBLISH_S`, when
    they changed (`GatewayMetrics.publish`)."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbench-metrics", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(PUBLISH_S):
            with contextlib.suppress(OSError):
                self._gateway.metrics.publish()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _die_with_parent() -> None:
    """Have the kernel send this process SIGTERM when its parent dies (Linux), so a killed
    supervisor leaves no worker serving."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
