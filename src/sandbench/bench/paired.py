"""Paired blocks: a candidate and its baseline loaded side by side, their calls alternated.

Both instances are warm and on one backend in one process. Each block calls them in the
order candidate, baseline, baseline, candidate (ABBA), `calls` times per side, so whatever
the machine does at that moment (a neighbour's burst, a frequency change) lands on both
sides alike. A block's value per side is the statistic of its calls (`block_value`), and
its log ratio candidate/baseline is one paired difference. Blocks go on until the caller's
`precise` says the differences are enough, or a cap in blocks or in seconds of blocks
(after the loads and warm-up calls) is reached.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sandbench.sandbox import Instance, Outcome, SandboxBackend

from .served import Target

__all__ = ["CPU_BLOCK", "WALL_BLOCK", "PairedPlan", "PairedRun", "block_value", "paired_blocks"]

CPU_BLOCK = "cpu"  # per call: the CPU time the sandbox measured (`Usage.cpu_ms`)
WALL_BLOCK = "wall"  # per call: the wall clock (`Usage.wall_ms` plus throttling)
Stop = Literal["precise", "blocks", "seconds", "failed"]
_WARM_CALLS = 3  # per side before the first block: first calls fill caches and pools


class PairedPlan(BaseModel):
    """How many calls a block has per side and when the blocks stop."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    calls: int = Field(default=8, ge=2, description="calls per side per block (even: ABBA)")
    min_blocks: int = Field(default=16, ge=2)
    max_blocks: int = Field(default=400, ge=2)
    max_seconds: float = Field(default=10.0, gt=0, description="of blocks, after the loads")
    check_every: int = Field(default=4, ge=1, description="blocks between `precise` checks")
    cpu_statistic: Literal["median", "mean"] = Field(
        default="median",
        description="a block's CPU value per side: median of its calls (WASM: a thread's "
        "own clock per call) or mean (a container's cgroup counter, whose work can spill "
        "from one request into the next: the block's total per request)",
    )


class PairedRun(BaseModel):
    """The blocks of one paired session, or why there are none.

    `pairs` maps a metric (`cpu`, `wall`) to per block (candidate value, baseline value) in
    ms per call. `stopped` says why the blocks ended: `precise`, `blocks` (the count cap),
    `seconds` (the time cap) or `failed` (`failure` says which side, what happened).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    pairs: dict[str, list[tuple[float, float]]] = Field(default_factory=dict)
    stopped: Stop
    seconds: float = 0.0
    failure: str = ""


def block_value(outcomes: Sequence[Outcome], metric: str, statistic: str = "median") -> float:
    """One side's value of a block in ms per call: CPU or wall clock, median or mean."""
    if metric == CPU_BLOCK:
        values = [o.usage.cpu_ms for o in outcomes]
    else:
        values = [o.usage.wall_ms + o.usage.throttled_ms for o in outcomes]
    if statistic == "mean" and metric == CPU_BLOCK:
        return statistics.fmean(values)
    return statistics.median(values)


def paired_blocks(
    backend: SandboxBackend,
    candidate: Target,
    baseline: Target,
    plan: PairedPlan,
    precise: Callable[[list[float]], bool],
) -> PairedRun:
    """Load both targets on `backend` (closed again here) and run blocks of paired calls.

    `precise` gets the CPU log ratios of the blocks so far (every `check_every` blocks from
    `min_blocks` on) and says whether to stop. A load that fails or a call that breaks a
    limit ends the session (`stopped="failed"`); the candidate's own check reports it. Raises
    only what `backend.load` raises for host faults (`SandboxError`).
    """
    started = time.monotonic()
    with ExitStack() as stack:
        instances = []
        for side, target in (("candidate", candidate), ("baseline", baseline)):
            loaded = backend.load(target.package, target.limits, target.grants)
            if loaded.instance is None:
                why = loaded.violation.message if loaded.violation else "no instance"
                return PairedRun(stopped="failed", failure=f"the {side} did not load: {why}")
            instances.append(stack.enter_context(loaded.instance))
        return _blocks(instances, (candidate, baseline), plan, precise, started)


def _blocks(
    instances: list[Instance],
    targets: tuple[Target, Target],
    plan: PairedPlan,
    precise: Callable[[list[float]], bool],
    started: float,
) -> PairedRun:
    pairs: dict[str, list[tuple[float, float]]] = {CPU_BLOCK: [], WALL_BLOCK: []}
    failure = _calls(instances, targets, [0, 1] * _WARM_CALLS, ([], []))
    stopped: Stop = "failed" if failure else "blocks"
    # the time cap is the blocks': two container starts on a busy machine can take longer
    # than the cap, and a night with no blocks at all would be unpaired
    blocks_began = time.monotonic()
    while not failure and len(pairs[CPU_BLOCK]) < plan.max_blocks:
        if time.monotonic() - blocks_began >= plan.max_seconds:
            stopped = "seconds"
            break
        sides: tuple[list[Outcome], list[Outcome]] = ([], [])
        failure = _calls(instances, targets, [0, 1, 1, 0] * (plan.calls // 2), sides)
        if failure:
            stopped = "failed"
            break
        for metric in pairs:
            statistic = plan.cpu_statistic if metric == CPU_BLOCK else "median"
            pair = (
                block_value(sides[0], metric, statistic),
                block_value(sides[1], metric, statistic),
            )
            pairs[metric].append(pair)
        n = len(pairs[CPU_BLOCK])
        if n >= plan.min_blocks and n % plan.check_every == 0 and precise(_ratios(pairs)):
            stopped = "precise"
            break
    return PairedRun(
        pairs=pairs if not failure else {},
        stopped=stopped,
        seconds=time.monotonic() - started,
        failure=failure,
    )


def _calls(
    instances: list[Instance],
    targets: tuple[Target, Target],
    order: list[int],
    sides: tuple[list[Outcome], list[Outcome]],
) -> str:
    """Invoke in `order` (0 candidate, 1 baseline), collecting outcomes; a failure's text."""
    for side in order:
        outcome = instances[side].invoke(targets[side].request)
        if not outcome.ok:
            what = outcome.violation.message if outcome.violation else "no response"
            return f"the {('candidate', 'baseline')[side]} failed a call: {what}"
        sides[side].append(outcome)
    return ""


def _ratios(pairs: dict[str, list[tuple[float, float]]]) -> list[float]:
    """The CPU log ratios (wall clock where a call measured no CPU time)."""
    metric = CPU_BLOCK if all(min(p) > 0 for p in pairs[CPU_BLOCK]) else WALL_BLOCK
    return [math.log(c / b) for c, b in pairs[metric] if c > 0 and b > 0]
