"""One cell, run inside a worker process: the pipeline on one module under one cell's axes.

This module owns no single-module logic: it picks the pipeline function, the policy and the
backend the cell names, and turns the report (or the error) into a `CellResult`.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from sandbench.bench.paired import CPU_BLOCK, WALL_BLOCK, PairedPlan, PairedRun
from sandbench.errors import InvalidInput, SandbenchError
from sandbench.manifests import load
from sandbench.manifests.archive import opened
from sandbench.pipeline import check, gate, paired
from sandbench.reports import HealthReport

from .config import NightlyConfig
from .matrix import Cell, backend_for, policy_for
from .models import CPU, LATENCY, CellResult, CellStatus, Pairing, StoredFinding
from .regress import night_intervals
from .stats import paired_shift

__all__ = ["Task", "execute", "failed_result", "result_from_report", "with_blocks"]


class Task(BaseModel):
    """What a worker needs to run one cell; plain data, sent between processes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    module: str
    path: Path
    digest: str
    cell: Cell
    config: NightlyConfig
    baseline: Path | None = None  # paired by calls: the artifact loaded beside the candidate


def execute(task: Task) -> CellResult:
    """Run `task` and return its result. Never raises for a bad module or a bad input.

    With `task.baseline`, a cell that produced a report then runs the candidate beside its
    baseline in blocks of alternated calls (`pipeline.paired`) and stores the blocks and
    the night's interval; a paired session that fails leaves the cell unpaired that night.
    """
    started = time.perf_counter()
    try:
        report = _pipeline(task)
    except InvalidInput as exc:
        return _failed(task, CellStatus.ERROR, f"{exc.path.name}: {exc.problems[0]}", started)
    except SandbenchError as exc:
        return _failed(task, CellStatus.ERROR, str(exc).splitlines()[0], started)
    result = result_from_report(task, report, (time.perf_counter() - started) * 1000)
    if task.baseline is None:
        return result
    try:
        session = _paired(task, task.baseline)
    except SandbenchError as exc:
        session = PairedRun(stopped="failed", failure=str(exc).splitlines()[0])
    return with_blocks(result, session, task, (time.perf_counter() - started) * 1000)


def _paired(task: Task, baseline: Path) -> PairedRun:
    """The candidate against `baseline` in blocks, until the night's interval of the CPU
    ratio is within `precision` (or `max_blocks`, or `cell_budget` seconds)."""
    config = task.config
    plan = PairedPlan(calls=config.pair_calls, max_blocks=config.max_blocks,
                      max_seconds=config.cell_budget)  # fmt: skip
    wide = math.log1p(config.precision)
    backend = backend_for(task.cell) if "backend" in dict(task.cell.axes) else None
    with opened(task.path) as candidate, opened(baseline) as base:
        return paired(
            candidate,
            base,
            lambda diffs: paired_shift(diffs).half_width <= wide,
            policy=policy_for(task.cell, config),
            backend=backend,
            cache_dir=config.cache_dir,
            plan=plan,
        )


def with_blocks(
    result: CellResult, session: PairedRun, task: Task, elapsed_ms: float
) -> CellResult:
    """`result` with the paired session's blocks (`round_medians`), the night's intervals
    and how it was paired; the CPU ratio is the judged one (a WASM call's thread clock, a
    container's cgroup CPU per request), the wall clock's is recorded beside it."""
    pairing = Pairing(
        unit="block",
        pairs=len(session.pairs.get(CPU_BLOCK, [])),
        calls=task.config.pair_calls,
        stopped=session.stopped,
        seconds=round(session.seconds, 3),
        cpu="thread CPU per call, block median" if _runs_wasm(task) else
            "cgroup CPU per request, block mean",
        failure=session.failure,
    )  # fmt: skip
    update: dict[str, object] = {"pairing": pairing, "elapsed_ms": elapsed_ms}
    if session.pairs:  # else the cell is unpaired tonight (`pairing.failure` says why)
        blocks = {CPU: session.pairs[CPU_BLOCK], LATENCY: session.pairs[WALL_BLOCK]}
        blocks = {m: pairs for m, pairs in blocks.items() if pairs and min(map(min, pairs)) > 0}
        paired_result = result.model_copy(update={"round_medians": blocks})
        update |= {"round_medians": blocks, "intervals": night_intervals(paired_result)}
        if CPU in blocks and CPU in result.samples:
            update["primary"] = CPU
    return result.model_copy(update=update)


def _runs_wasm(task: Task) -> bool:
    """Whether the cell runs the module in wasmtime: the `backend` axis, else the manifest."""
    axes = dict(task.cell.axes)
    if "backend" in axes:
        return backend_for(task.cell).value == "wasm"
    with opened(task.path) as root:
        return load(root).manifest.runtime.kind == "wasm"


def _pipeline(task: Task) -> HealthReport:
    config = task.config
    policy = policy_for(task.cell, config)
    # The pipeline opens (and closes) the backend the cell names; without a `backend` axis,
    # the one the manifest's runtime.kind says (a container module in Docker, WASM in wasmtime).
    backend = backend_for(task.cell) if "backend" in dict(task.cell.axes) else None
    # A gate measures its cold load that night (cold=True); a check's rounds judge the
    # calls, so `cold_load` decides (a fresh compile of a component costs seconds).
    if config.mode == "gate":
        return gate(task.path, policy=policy, backend=backend, cache_dir=config.cache_dir,
                    cold=True)  # fmt: skip
    with opened(task.path) as root:
        return check(
            root,
            policy=policy,
            backend=backend,
            calls=config.calls,
            warm_runs=config.warm_runs,
            cache_dir=config.cache_dir,
            cold=config.cold_load,
        )


def result_from_report(task: Task, report: HealthReport, elapsed_ms: float) -> CellResult:
    """The stored form of a report: status, latency samples, findings and the JSON itself."""
    samples: dict[str, list[float]] = {}
    if task.config.cold_load:  # otherwise the first load was not cold: nothing to compare
        samples["load.cold_ms"] = [report.load.cold_ms]
    primary = ""
    if report.health is not None and report.health.samples_ms:
        samples[LATENCY] = list(report.health.samples_ms)
        primary = LATENCY
        if report.health.cpu_samples_ms:  # the same calls' CPU time, as the sandbox measured it
            samples[CPU] = list(report.health.cpu_samples_ms)
            # A WASM call's CPU time is the calling thread's own clock: what the module's
            # code cost, untouched by how busy the machine is (a container's is the
            # cgroup's coarse counter, so its wall clock stays the judged metric).
            primary = CPU if _runs_wasm(task) else LATENCY
    findings = [
        StoredFinding(
            fingerprint=f.fingerprint,
            rule=f"{f.scanner}/{f.rule_id}",
            severity=f.severity,
            message=f.message,
        )
        for f in report.findings
    ]
    return CellResult(
        run_id=task.run_id,
        module=task.module,
        digest=task.digest,
        cell=task.cell.key,
        module_id=report.module_id,
        version=report.version,
        status=CellStatus(report.status.value),
        message="; ".join(report.reasons),
        elapsed_ms=elapsed_ms,
        samples=samples,
        findings=findings,
        report=report.model_dump_json(by_alias=True),
        recorded_at=datetime.now(UTC),
        primary=primary,
    )


def _failed(task: Task, status: CellStatus, message: str, started: float) -> CellResult:
    return failed_result(task, status, message, (time.perf_counter() - started) * 1000)


def failed_result(task: Task, status: CellStatus, message: str, elapsed_ms: float) -> CellResult:
    """A result without a report: an error, a timeout or a crash, with what happened."""
    return CellResult(
        run_id=task.run_id,
        module=task.module,
        digest=task.digest,
        cell=task.cell.key,
        status=status,
        message=message,
        elapsed_ms=elapsed_ms,
        recorded_at=datetime.now(UTC),
    )
