"""The policy's numeric thresholds as the report carries them, so charts can draw them."""

from __future__ import annotations

from collections.abc import Sequence

from .model import RuleResult, Status, ThresholdReport
from .policy import Policy

__all__ = ["policy_thresholds"]


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
