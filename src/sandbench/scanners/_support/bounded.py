"""Time budgets for scanners: every scan ends by its deadline, and nothing it started outlives it.

A thread cannot be killed, so a budget is enforced where the work runs:

- a scanner that runs a tool (bandit, pip-audit) starts it with `run_tool`: in its own
  process group, killed (the group: pip's children too) when the scan's deadline passes;
- the in-process readers (capabilities, coverage, licenses, malware, manifest lint: pure Python over
  untrusted bytes, which cannot stop cooperatively without touching every reader) run
  together in one child interpreter (`run_isolated`, `python -m sandbench.scanners._child`,
  not `multiprocessing`, which would re-import the caller's main script) that is killed at
  the deadline. Each
  reader's result streams back as soon as it is done, so a slow reader costs only its own
  result; a reader that crashes its interpreter (a segfault, a recursion limit) costs only
  its own too.

`cancel_all()` kills every tool and child still running (used when the process is
interrupted), which also unblocks the threads waiting on them.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import IO, Any

from sandbench.manifests import ModulePackage
from sandbench.scanners.interface import Scanner, ScanResult

__all__ = ["cancel_all", "deadline", "run_isolated", "run_tool", "timed"]

_DEADLINE: ContextVar[float | None] = ContextVar("sandbench_scan_deadline", default=None)
_LIVE: set[subprocess.Popen[Any]] = set()
_LOCK = threading.Lock()


@contextlib.contextmanager
def deadline(at: float) -> Iterator[None]:
    """Run the block under a scan deadline (a `time.monotonic()` value) for `run_tool`."""
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _left(timeout: float) -> float:
    at = _DEADLINE.get()
    return timeout if at is None else max(0.0, min(timeout, at - time.monotonic()))


def _track(process: subprocess.Popen[Any], live: bool) -> None:
    with _LOCK:
        (_LIVE.add if live else _LIVE.discard)(process)


def _kill(process: subprocess.Popen[Any]) -> None:
    """SIGKILL the process's group (its own: children die with it) unless it was reaped."""
    if process.returncode is not None:
        return  # reaped: its pid may be someone else's now
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def cancel_all() -> None:
    """Kill every tool and scanner child still running. Harmless when there are none."""
    with _LOCK:
        running = list(_LIVE)
    for process in running:
        _kill(process)


def run_tool(
    command: list[str], *, timeout: float, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(command, capture_output=True, text=True)` bounded by `timeout` and by
    the scan's deadline, whichever comes first. Raises `subprocess.TimeoutExpired` (its
    `timeout` is the time it had) after killing the tool's whole process group."""
    budget = _left(timeout)
    process = subprocess.Popen(  # noqa: S603 - callers pass our interpreter and fixed arguments
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kwargs,
    )
    _track(process, live=True)
    try:
        out, err = process.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        _kill(process)
        process.communicate()
        raise subprocess.TimeoutExpired(command, budget) from None
    except BaseException:  # interrupted: the tool must not outlive us
        _kill(process)
        process.wait()
        raise
    finally:
        _track(process, live=False)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def timed(scanner: Scanner, package: ModulePackage) -> ScanResult:
    """`scanner.scan(package)` with its elapsed time; an exception becomes a skipped result."""
    started = time.perf_counter()
    try:
        result = scanner.scan(package)
    except Exception as exc:  # a scanner bug must not hide the others' results
        result = ScanResult(scanner=scanner.name, skipped_reason=f"{type(exc).__name__}: {exc}")
    elapsed = (time.perf_counter() - started) * 1000
    return result.model_copy(update={"elapsed_ms": elapsed})


def child_main() -> None:
    """In the child (`python -m sandbench.scanners._child`): read the pickled scanners and
    package on stdin, run each scanner in a thread and print `index<TAB>result JSON` as each
    ends."""
    scanners, package = pickle.load(sys.stdin.buffer)  # noqa: S301 - written by our parent
    lock = threading.Lock()

    def one(index: int) -> None:
        line = f"{index}\t{timed(scanners[index], package).model_dump_json()}\n"
        with lock:
            sys.stdout.write(line)
            sys.stdout.flush()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(scanners))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_isolated(
    scanners: Sequence[Scanner], package: ModulePackage, until: float
) -> dict[int, ScanResult]:
    """Run `scanners` in one child process until all are done or `until` (monotonic) passes.

    Returns the results that arrived, by index; the child (its whole process group) is
    killed and reaped before this returns, whatever happened. A scanner missing from the
    result did not finish in time, or its process died.
    """
    if not scanners:
        return {}
    command = [sys.executable, "-m", "sandbench.scanners._child"]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    _track(process, live=True)
    try:
        assert process.stdin is not None  # noqa: S101 - PIPE
        assert process.stdout is not None  # noqa: S101 - PIPE
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(pickle.dumps((list(scanners), package)))
            process.stdin.close()
        return _collect(process.stdout, len(scanners), until)
    finally:
        _kill(process)
        process.wait()
        _track(process, live=False)
        process.stdout.close()  # type: ignore[union-attr]


def _collect(stream: IO[bytes], count: int, until: float) -> dict[int, ScanResult]:
    """Read `index<TAB>json` lines from `stream` until `count` arrived, it ends, or `until`."""
    results: dict[int, ScanResult] = {}
    pending = b""
    fd = stream.fileno()
    while len(results) < count:
        left = until - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break  # the child ended (or died)
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            index, text = line.split(b"\t", 1)
            results[int(index)] = ScanResult.model_validate_json(text)
    return results
