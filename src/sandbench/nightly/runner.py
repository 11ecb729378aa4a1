"""The nightly loop: every (module, cell) of this shard, each in a worker process.

A cell runs in a long-lived worker process (a fresh interpreter: no wasmtime threads forked).
A cell past `cell_timeout` gets its worker killed and is recorded as `timeout`; a worker
that dies is recorded as `crashed`; the next cell gets a fresh worker. Results are stored
as each cell finishes, so an interrupted run resumes by skipping what the store has.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, Field

from sandbench._camel import CAMEL
from sandbench._tree import remove_tree
from sandbench.errors import NightlyError

from .cell import Task, failed_result
from .config import NightlyConfig
from .matrix import Cell, Shard, cells, source_digest
from .models import LATENCY, CellResult, CellStatus
from .regress import BASELINE_PREFIX, night_intervals, night_value
from .stats import median_interval
from .store import HistoryStore

__all__ = [
    "DEFAULT_EXECUTOR",
    "CellLine",
    "Progress",
    "RunSummary",
    "Worker",
    "merge_rounds",
    "plan",
    "run",
]

DEFAULT_EXECUTOR = "sandbench.nightly.cell:execute"
_STARTUP_TIMEOUT = 120.0

# (done so far, total, the task, its result or None when it was skipped as already done)
Progress = Callable[[int, int, Task, CellResult | None], None]


class CellLine(BaseModel):
    """One cell in the run summary."""

    model_config = CAMEL

    module: str
    cell: str
    status: CellStatus
    message: str = ""
    elapsed_ms: float = 0.0


class RunSummary(BaseModel):
    """What `sandbench nightly` writes at the end (JSON)."""

    model_config = CAMEL

    run_id: str
    shard: str
    store: str
    cells: int
    ran: int
    resumed: int = Field(description="cells already stored for this run, not run again")
    by_status: dict[str, int]
    elapsed_s: float
    results: list[CellLine]
    regressions: list[dict[str, Any]] = Field(default_factory=list)


def plan(config: NightlyConfig, run_id: str, shard: Shard) -> list[Task]:
    """Every (module, cell) this shard owns, in a stable order."""
    matrix = cells(config)
    tasks: list[Task] = []
    for ref in config.modules:
        digest = source_digest(ref.path)
        # paired by calls: the baseline artifact is loaded beside the candidate in its cell
        baseline = config.baselines.get(ref.id) if config.pairing == "calls" else None
        common = {"run_id": run_id, "module": ref.id, "path": ref.path, "digest": digest}
        tasks.extend(
            Task(**common, cell=c, config=config, baseline=baseline)
            for c in matrix
            if shard.owns(ref.id, c)
        )
    return tasks


def run(
    config: NightlyConfig,
    store: HistoryStore,
    run_id: str,
    *,
    shard: Shard | None = None,
    progress: Progress | None = None,
    executor: str = DEFAULT_EXECUTOR,
) -> RunSummary:
    """Run this shard's cells that `store` does not have yet for `run_id`, storing each."""
    shard = shard or Shard()
    started = time.perf_counter()
    tasks = plan(config, run_id, shard)
    done = store.done(run_id)
    lines: list[CellLine] = []
    resumed = 0
    numbered = list(enumerate(tasks, start=1))
    with Worker(executor) as worker:
        for start in range(0, len(numbered), config.interleave):
            todo = []
            for number, task in numbered[start : start + config.interleave]:
                if (task.module, task.digest, task.cell.key) in done:
                    resumed += 1
                    if progress:
                        progress(number, len(tasks), task, None)
                else:
                    todo.append((number, task))
            for number, task, result in _rounds(worker, todo, config):
                store.record(result)
                lines.append(_line(result))
                if progress:
                    progress(number, len(tasks), task, result)
    counts = Counter(line.status.value for line in lines)
    return RunSummary(
        run_id=run_id,
        shard=str(shard),
        store=getattr(store, "where", "?"),
        cells=len(tasks),
        ran=len(lines),
        resumed=resumed,
        by_status=dict(sorted(counts.items())),
        elapsed_s=round(time.perf_counter() - started, 2),
        results=lines,
    )


def _rounds(
    worker: Worker, todo: list[tuple[int, Task]], config: NightlyConfig
) -> list[tuple[int, Task, CellResult]]:
    """Run a window of cells round by round, each until its data are precise enough.

    Rounds are round-major over the window: a burst of load from a neighbour lands on
    several cells a little instead of on one entirely. A cell with a baseline runs it in
    the same round, right next to the candidate and alternately before and after it
    (ABBA), so the machine's state of the moment is shared by both; cells of the window
    that name the same baseline artifact share its run of the round (several candidates
    against one last known-good version cost one baseline run a round). A cell stops after
    `min_rounds` once its night's interval is within `precision` (`_precise`), after
    `rounds`, or once its rounds used `cell_budget` seconds. A cell that times out,
    crashes or errors is not run again; a baseline that does is dropped for the night.
    A cell paired by calls (`Task.baseline`, `pairing = "calls"`) runs once: its baseline
    is loaded beside it in the worker and their calls alternate in blocks (`cell.execute`).
    """
    tasks = dict(todo)
    runs: dict[int, tuple[list[CellResult], list[CellResult]]] = {n: ([], []) for n in tasks}
    baselines = {n: _baseline_task(task, config) for n, task in todo}
    spent = dict.fromkeys(tasks, 0.0)
    active = list(tasks)
    if any(baselines.values()):
        # A fresh worker's first cell pays its imports and cold caches (measured: its calls
        # twice as slow as the next cell's); that must not land on one side of a pair.
        worker.run(todo[0][1], config.cell_timeout)
    for round_number in range(config.rounds):
        measured: dict[tuple[str, str], CellResult] = {}  # this round's baseline runs
        for number in list(active):
            pair = [(runs[number][0], tasks[number]), (runs[number][1], baselines[number])]
            for results, task in pair[:: -1 if round_number % 2 else 1]:
                if task is None:
                    continue
                is_baseline = task is baselines[number]
                key = (str(task.path), task.cell.key)
                if is_baseline and key in measured:  # shared with a cell before this one
                    result = measured[key]
                else:
                    result = worker.run(task, config.cell_timeout)
                    spent[number] += result.elapsed_ms / 1000
                if is_baseline:
                    measured[key] = result
                results.append(result)
                if result.status.rank == _NO_REPORT and is_baseline:
                    baselines[number] = None
                    results.clear()
            # a cell paired by calls decided its night in its one run (its blocks)
            one_run = tasks[number].baseline is not None
            if one_run or _done(runs[number], round_number + 1, spent[number], config):
                active.remove(number)
    return [(n, task, _paired(*runs[n])) for n, task in todo]


_NO_REPORT = 3


def _baseline_task(task: Task, config: NightlyConfig) -> Task | None:
    """The module's last known-good artifact in the same cell (`[baselines]`), else the same
    module in the cell of an axis's previous value (`[baseline_axes]`), else none; none
    for a cell paired by calls (`task.baseline`: its run already holds the baseline's)."""
    if task.baseline is not None:
        return None
    path = config.baselines.get(task.module)
    if path is not None:
        return task.model_copy(update={"path": path, "digest": source_digest(path)})
    for axis, value in task.cell.axes:
        previous = config.baseline_axes.get(axis, {}).get(value)
        if previous is not None:
            axes = tuple((a, previous if a == axis else v) for a, v in task.cell.axes)
            return task.model_copy(update={"cell": Cell(axes=axes)})
    return None


def _done(
    runs: tuple[list[CellResult], list[CellResult]],
    rounds: int,
    spent: float,
    config: NightlyConfig,
) -> bool:
    candidate, baseline = runs
    if candidate[-1].status.rank == _NO_REPORT or spent >= config.cell_budget:
        return True
    return rounds >= config.min_rounds and _precise(candidate, baseline, config.precision)


def _precise(candidate: list[CellResult], baseline: list[CellResult], precision: float) -> bool:
    """Whether the night's 95 % interval of the cell's judged metric (`regress.night_value`:
    paired rounds, the pooled paired samples, or the median without a baseline) has a
    half-width within log(1 + precision): about +-precision as a ratio."""
    judged = candidate[-1].primary or LATENCY
    value = night_value(_paired(candidate, baseline), judged)
    if value is None:
        return True  # nothing to make precise
    if value.interval is None:
        new = [v for r in candidate for v in r.samples.get(judged, [])]
        return median_interval([math.log(v) for v in new]).half_width <= math.log1p(precision)
    return value.interval.half_width <= math.log1p(precision)


def _paired(candidate: list[CellResult], baseline: list[CellResult]) -> CellResult:
    """The candidate's rounds merged, with the baseline's samples beside them, each round's
    pair of medians, and the night's ratio with its interval per metric."""
    merged = merge_rounds(candidate)
    if not baseline or merged.status.rank == _NO_REPORT:
        return merged
    pooled = merge_rounds(baseline).samples
    extra = {BASELINE_PREFIX + metric: values for metric, values in pooled.items()}
    rounds: dict[str, list[tuple[float, float]]] = {}
    for new, base in zip(candidate, baseline, strict=False):
        for metric, values in new.samples.items():
            if values and base.samples.get(metric):
                pair = (statistics.median(values), statistics.median(base.samples[metric]))
                rounds.setdefault(metric, []).append(pair)
    paired = merged.model_copy(
        update={"samples": {**merged.samples, **extra}, "round_medians": rounds}
    )
    return paired.model_copy(update={"intervals": night_intervals(paired)})


def merge_rounds(rounds: list[CellResult]) -> CellResult:
    """One result from a cell's rounds: samples pooled, the worst status with its report."""
    worst = max(rounds, key=lambda r: r.status.rank)
    if worst.status.rank == _NO_REPORT or len(rounds) == 1:
        return worst
    samples: dict[str, list[float]] = {}
    for r in rounds:
        for metric, values in r.samples.items():
            samples.setdefault(metric, []).extend(values)
    findings = {f.fingerprint: f for r in rounds for f in r.findings}
    return worst.model_copy(
        update={
            "samples": samples,
            "findings": list(findings.values()),
            "elapsed_ms": sum(r.elapsed_ms for r in rounds),
        }
    )


def _line(result: CellResult) -> CellLine:
    return CellLine(
        module=result.module,
        cell=result.cell,
        status=result.status,
        message=result.message,
        elapsed_ms=round(result.elapsed_ms, 1),
    )


class Worker:
    """A process (`python -m sandbench.nightly.worker`) that runs cells one at a time.

    It talks JSON lines over its stdin/stdout and is killed and replaced on a timeout or a
    crash. `executor` is `module:function` taking a `Task` and returning a `CellResult`.
    Close it (or use `with`) to stop the process; closing twice is harmless.
    """

    def __init__(self, executor: str = DEFAULT_EXECUTOR) -> None:
        self.executor = executor
        self._proc: subprocess.Popen[bytes] | None = None
        self._scratch: Path | None = None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The current worker's process id, if one is running."""
        return None if self._proc is None else self._proc.pid

    def run(self, task: Task, timeout: float) -> CellResult:
        """Run one cell with a wall-clock `timeout` in seconds. Never raises for the cell."""
        proc = self._ensure()
        started = time.perf_counter()
        try:
            _pipe(proc.stdin).write(task.model_dump_json().encode() + b"\n")
            _pipe(proc.stdin).flush()
            line = self._readline(timeout)
        except OSError:
            line = b""
        ms = (time.perf_counter() - started) * 1000
        if line is None:
            self._kill()
            message = f"no result within cell_timeout ({timeout:g} s); the worker was killed"
            return failed_result(task, CellStatus.TIMEOUT, message, ms)
        if not line:
            code = self._kill()
            return failed_result(task, CellStatus.CRASHED, f"the worker died (exit {code})", ms)
        return CellResult.model_validate_json(line)

    def close(self) -> None:
        """Stop the worker process."""
        if self._proc is not None and self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
        self._kill()

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is not None:
            return self._proc
        # The worker's temporary files (extracted archives, scratch, storage) go to a folder
        # of its own, removed when it ends: a worker killed mid-cell cannot clean up itself.
        self._scratch = Path(tempfile.mkdtemp(prefix="sandbench-worker-"))
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "sandbench.nightly.worker", self.executor],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "TMPDIR": str(self._scratch)},
        )
        if self._readline(_STARTUP_TIMEOUT) != b"ready\n":
            code = self._kill()
            raise NightlyError(f"the nightly worker did not start (exit {code})")
        return self._proc

    def _readline(self, timeout: float) -> bytes | None:
        """A line from the worker, b"" when it died, None on timeout."""
        if self._proc is None:
            return b""
        stdout = _pipe(self._proc.stdout)
        ready, _, _ = select.select([stdout], [], [], timeout)
        if not ready:
            return None
        return stdout.readline()

    def _kill(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._scratch is not None:
            remove_tree(self._scratch)
            self._scratch = None
        return code


def _pipe(stream: IO[bytes] | None) -> IO[bytes]:
    if stream is None:  # pragma: no cover - Popen was given PIPE
        raise NightlyError("the worker has no pipe")
    return stream
