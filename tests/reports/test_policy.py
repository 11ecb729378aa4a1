"""Every rule of the built-in policy, one at a time."""

from __future__ import annotations

from sandbench.bench import LoadTimes
from sandbench.manifests import HealthExpect
from sandbench.reports import Policy, Status, assess
from sandbench.runtime import AppliedLimits
from sandbench.sandbox import Outcome, Response, SandboxLimits, Usage, Violation, ViolationKind

from .conftest import DIGEST, answer, make_evidence


def fired(report):
    return {r.rule: r.status for r in report.rules if r.status is not Status.HEALTHY}


def test_clean_evidence_is_healthy_with_every_rule_listed():
    report = assess(make_evidence())
    assert report.status is Status.HEALTHY
    assert report.reasons == []
    assert [r.rule for r in report.rules] == [
        "module-loads",
        "limit-violations",
        "health-status",
        "error-rate",
        "latency-p95",
        "load-time",
        "signature",
        "limits-clamped",
    ]


def test_load_failure_is_critical():
    violation = Violation(kind=ViolationKind.UNKNOWN_IMPORT, message="unknown import", phase="load")
    report = assess(
        make_evidence(outcomes=(), load_violation=violation, dependencies={"env": False})
    )
    assert report.status is Status.CRITICAL
    assert report.reasons == ["module-loads"]
    assert report.metrics.error_rate == 1.0
    assert report.metrics.dependencies == {"env": "error"}
    assert report.violations[0].kind == "unknown-import"


def test_a_violation_is_critical_and_counted():
    bad = Outcome(violation=Violation(kind=ViolationKind.MEMORY, message="m"), usage=Usage())
    report = assess(make_evidence(outcomes=(answer(), bad, bad)))
    assert fired(report) == {"limit-violations": "critical", "error-rate": "critical"}
    assert [(v.kind, v.count) for v in report.violations] == [("memory", 2)]
    assert report.metrics.error_rate == round(2 / 3, 6)


def test_wrong_status_and_missing_body_text_are_critical():
    ev = make_evidence(outcomes=(answer(500),) * 5, expect=HealthExpect(status=200, contains="yes"))
    assert fired(assess(ev)) == {
        "health-status": "critical",
        "health-body": "critical",
        "error-rate": "critical",
    }


def test_latency_thresholds():
    assert fired(assess(make_evidence(outcomes=(answer(wall_ms=150),)))) == {
        "latency-p95": "degraded"
    }
    assert fired(assess(make_evidence(outcomes=(answer(wall_ms=600),)))) == {
        "latency-p95": "critical"
    }


def test_a_few_calls_are_judged_by_their_median_not_one_slow_call():
    calls = (answer(wall_ms=1.0),) * 4 + (answer(wall_ms=300.0),)
    report = assess(make_evidence(outcomes=calls))
    rule = next(r for r in report.rules if r.rule == "latency-p95")
    assert rule.status == "healthy"
    assert rule.message.startswith("median 1.00 ms over 5 calls (a p95 needs 20 calls)")
    many = (answer(wall_ms=1.0),) * 18 + (answer(wall_ms=300.0),) * 2
    assert fired(assess(make_evidence(outcomes=many))) == {"latency-p95": "degraded"}


def test_slow_cold_load_is_degraded():
    ev = make_evidence(load=LoadTimes(cold_ms=800, compile_ms=790))
    assert fired(assess(ev)) == {"load-time": "degraded"}


def test_signature_mismatch_is_critical_and_unsigned_degraded():
    mismatch = assess(make_evidence(declared_signature="SHA256:" + "cd" * 32))
    assert fired(mismatch) == {"signature": "critical"}
    assert mismatch.signature.status == "mismatch"
    unsigned = assess(make_evidence(declared_signature=None))
    assert fired(unsigned) == {"signature": "degraded"}
    strict = assess(make_evidence(declared_signature=None), Policy(unsigned=Status.CRITICAL))
    assert strict.status is Status.CRITICAL


def test_clamped_limits_are_degraded_and_named():
    applied = AppliedLimits(limits=SandboxLimits(), clamped=("limits.memory: too much",))
    report = assess(make_evidence(applied=applied))
    assert report.reasons == ["limits-clamped"]
    assert report.limits.clamped == ("limits.memory: too much",)


def test_the_worst_rule_sets_the_status_and_only_those_rules_are_reasons():
    ev = make_evidence(
        declared_signature=None, load=LoadTimes(cold_ms=900, compile_ms=1), outcomes=(answer(404),)
    )
    report = assess(ev)
    assert report.status is Status.CRITICAL
    assert report.reasons == ["health-status", "error-rate"]


def test_cpu_usage_is_cpu_seconds_per_wall_second_waits_for_the_cpu_share_included():
    def call(cpu_ms: float, wall_ms: float, throttled_ms: float) -> Outcome:
        usage = Usage(wall_ms=wall_ms, cpu_ms=cpu_ms, throttled_ms=throttled_ms)
        return Outcome(response=Response(status=200, body=b"ok"), usage=usage)

    # A 250m module whose calls each burn 250 ms of CPU at full speed: the first runs on
    # the share's one second of burst, each later one waits a second for its share.
    calls = (call(250, 260, 0),) + (call(250, 260, 1000),) * 3
    assert assess(make_evidence(outcomes=calls)).metrics.cpu_usage == 247.5  # 1 s / 4.04 s
    # One such call alone: it did use a quarter second of CPU within that second.
    assert assess(make_evidence(outcomes=calls[:1])).metrics.cpu_usage == 250.0


def test_metrics_follow_the_platform_units():
    report = assess(make_evidence(outcomes=(answer(wall_ms=2.0),) * 4))
    assert report.metrics.load_time == 12.5
    assert report.metrics.memory_usage == 65536
    # 4 ms of CPU in 8 ms of calls, counted over the one second `limits.cpu` holds over:
    # 4m, not the 500m the calls ran at while they ran.
    assert report.metrics.cpu_usage == 4.0
    assert report.signature.digest == DIGEST
