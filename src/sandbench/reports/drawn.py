"""The policy's numeric thresholds: as the report carries them (for charts) and as a load
test checks them."""

from __future__ import annotations

from collections.abc import Sequence

from sandbench.bench.thresholds import Threshold

from .model import RuleResult, Status, ThresholdReport
from .policy import Policy

__all__ = ["load_test_thresholds", "policy_thresholds"]


def load_test_thresholds(policy: Policy) -> list[Threshold]:
    """The load test's pass/fail thresholds under `policy`: its p95 degraded line and its
    error rate, written the way `--threshold` takes them (`p95 < 100ms`, `error_rate < 0.5%`)."""
    p95, rate = policy.p95_degraded_ms, policy.max_error_rate
    return [
        Threshold(text=f"p95 < {p95:g}ms", metric="p95", op="<", value=p95),
        Threshold(text=f"error_rate < {rate * 100:g}%", metric="error_rate", op="<", value=rate),
    ]


def policy_thresholds(policy: Policy, results: Sequence[RuleResult]) -> list[ThresholdReport]:
    """The thresholds of the latency, load-time and error-rate rules; `failed` marks the
    one each rule fired at (p95: the critical line when critical, else the degraded one)."""
    status = {r.rule: r.status for r in results}
    p95 = status.get("latency-p95", Status.HEALTHY)

    def fired(rule: str) -> bool:
        return status.get(rule, Status.HEALTHY) is not Status.HEALTHY

    return [
        ThresholdReport(rule="latency-p95", label="p95 degraded above",
                        value=policy.p95_degraded_ms, unit="ms",
                        failed=p95 is Status.DEGRADED),
        ThresholdReport(rule="latency-p95", label="p95 critical above",
                        value=policy.p95_critical_ms, unit="ms",
                        failed=p95 is Status.CRITICAL),
        ThresholdReport(rule="load-time", label="load degraded above",
                        value=policy.max_load_ms, unit="ms", failed=fired("load-time")),
        ThresholdReport(rule="error-rate", label="error rate critical above",
                        value=policy.max_error_rate, unit="ratio", failed=fired("error-rate")),
    ]  # fmt: skip
