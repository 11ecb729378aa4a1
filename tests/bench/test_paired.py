"""Paired blocks: a candidate and its baseline side by side, their calls alternated."""

from __future__ import annotations

import math

import pytest

from sandbench.bench.paired import CPU_BLOCK, WALL_BLOCK, PairedPlan, block_value
from sandbench.pipeline import paired
from sandbench.sandbox import Outcome, Response, Usage
from tests.conftest import EXAMPLES


def _outcome(cpu_ms: float, wall_ms: float) -> Outcome:
    return Outcome(response=Response(status=200), usage=Usage(cpu_ms=cpu_ms, wall_ms=wall_ms))


def test_a_blocks_value_is_the_median_call_or_the_mean_cpu():
    calls = [_outcome(1.0, 5.0), _outcome(2.0, 6.0), _outcome(9.0, 70.0)]
    assert block_value(calls, CPU_BLOCK) == 2.0
    assert block_value(calls, CPU_BLOCK, "mean") == 4.0  # a cgroup's work that spilled over
    assert block_value(calls, WALL_BLOCK, "mean") == 6.0  # the wall clock: always the median


def test_blocks_go_on_until_precise_and_the_rule_sees_every_ratio_so_far(cache_dir):
    seen: list[int] = []

    def precise(ratios: list[float]) -> bool:
        seen.append(len(ratios))
        assert all(math.isfinite(r) for r in ratios)
        return len(ratios) >= 24

    plan = PairedPlan(calls=4, min_blocks=16, check_every=4)
    session = paired(EXAMPLES / "hello", EXAMPLES / "hello", precise, cache_dir=cache_dir,
                     plan=plan)  # fmt: skip
    assert (session.stopped, session.failure) == ("precise", "")
    assert seen == [16, 20, 24]
    assert {m: len(p) for m, p in session.pairs.items()} == {CPU_BLOCK: 24, WALL_BLOCK: 24}
    assert all(c > 0 and b > 0 for c, b in session.pairs[CPU_BLOCK])


@pytest.mark.parametrize(
    ("plan", "stopped", "blocks"),
    [
        (PairedPlan(min_blocks=2, max_blocks=6), "blocks", 6),
        (PairedPlan(max_seconds=1e-9), "seconds", 0),  # the time cap, checked before a block
    ],
)
def test_blocks_stop_at_the_count_cap_or_the_time_cap(cache_dir, plan, stopped, blocks):
    session = paired(EXAMPLES / "hello-reactor", EXAMPLES / "hello", lambda _: False,
                     cache_dir=cache_dir, plan=plan)  # fmt: skip
    assert session.stopped == stopped
    assert len(session.pairs[CPU_BLOCK]) == blocks


def test_a_side_that_breaks_a_limit_ends_the_session_and_says_which(cache_dir):
    spin = EXAMPLES / "hostile" / "infinite-loop"
    session = paired(spin, EXAMPLES / "hello", lambda _: True, cache_dir=cache_dir)
    assert session.stopped == "failed"
    assert session.failure.startswith("the candidate failed a call: ")
    assert session.pairs == {}


@pytest.mark.docker
def test_a_container_pair_is_judged_on_its_cgroup_cpu_per_request():
    module = EXAMPLES / "pricing-container"
    session = paired(module, module, lambda _: False, plan=PairedPlan(min_blocks=2, max_blocks=4))
    assert session.stopped == "blocks"
    assert len(session.pairs[CPU_BLOCK]) == 4
    assert all(c > 0 and b > 0 for c, b in session.pairs[CPU_BLOCK])  # the cgroup's counter
