"""The latency rules on recorded measurements: the module's share is judged, not the
machine's; a measurement that cannot tell them apart is inconclusive, in every format.

The figures are ones recorded here (six gates at once on a 2-core machine, and lone runs).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from sandbench.bench import summarize
from sandbench.bench.loadtest import LoadTestConfig, LoadTestResult
from sandbench.reports import Format, Policy, Status, assess, render
from sandbench.reports.latency import judge_latency
from sandbench.sandbox import Outcome, Response, Usage

from .conftest import make_evidence

POLICY = Policy()


@pytest.mark.parametrize(
    ("p95", "reference", "status", "inconclusive"),
    [
        (33.43, 31.05, None, False),  # vendas, one gate
        (124.0, 118.2, None, True),  # vendas, six gates at once: the machine's latency
        (144.0, 97.5, None, True),  # ... the reference fast, but vendas adds only 46.5 ms
        (898.67, 36.63, Status.CRITICAL, False),  # stall: adds 862 ms
        (767.16, 597.47, None, True),  # vendas, the noisiest of 20 busy gates: within the margin
        (1146.64, 792.67, Status.DEGRADED, False),  # stall, the least of 20 busy gates
        (460.0, 140.0, Status.DEGRADED, False),  # a module adding 320 ms a call
        (130.0, 2.1, Status.DEGRADED, False),  # a quiet machine: the module's own 128 ms
    ],
)
def test_a_load_test_p95_is_judged_on_what_the_module_adds_to_the_reference(
    p95, reference, status, inconclusive
):
    judged = judge_latency(p95, POLICY, reference=reference, pressure=0.9)
    assert (judged.status, judged.inconclusive) == (status, inconclusive)


@pytest.mark.parametrize(
    ("wall", "own", "pressure", "status", "inconclusive"),
    [
        (0.21, 0.2, 0.97, None, False),  # fast: nothing to explain
        (140.0, 0.4, 0.97, None, True),  # waited for a CPU on a busy machine
        (320.0, 305.0, 0.97, Status.DEGRADED, False),  # burns 300 ms itself: still caught
        (140.0, 0.4, 0.02, Status.DEGRADED, False),  # a quiet machine: the wall time counts
        (140.0, 0.4, None, Status.DEGRADED, False),  # no PSI: the wall time counts
        (900.0, 850.0, 0.5, Status.CRITICAL, False),
    ],
)
def test_in_process_calls_are_judged_on_their_own_time_when_the_machine_is_busy(
    wall, own, pressure, status, inconclusive
):
    judged = judge_latency(wall, POLICY, own=own, pressure=pressure)
    assert (judged.status, judged.inconclusive) == (status, inconclusive)


def test_usage_own_time_is_cpu_plus_sleep_never_the_wait():
    usage = Usage(wall_ms=150.0, cpu_ms=0.1, host_cpu_ms=0.4, slept_ms=50.0)
    assert usage.own_ms == pytest.approx(50.4)


def _load_test(p95_values: list[float], reference: list[float] | None) -> LoadTestResult:
    latency = summarize(p95_values)
    return LoadTestResult(
        config=LoadTestConfig(url="http://127.0.0.1", rate=50, duration_s=2),
        requests=len(p95_values),
        errors=0,
        error_rate=0.0,
        achieved_rps=50.0,
        wall_s=2.0,
        latency_ms=latency,
        service_ms=latency,
        reference_ms=summarize(reference) if reference else None,
        cpu_pressure=0.97,
    )


@pytest.fixture
def busy_report():
    """vendas in one of six gates at once: p95 124 ms, the reference 118 ms."""
    test = _load_test([3.0] * 90 + [124.0] * 10, [2.0] * 90 + [118.2] * 10)
    return assess(make_evidence(load_test=test))


def test_a_busy_run_is_healthy_and_says_the_load_test_was_inconclusive(busy_report):
    assert busy_report.status is Status.HEALTHY
    rule = next(r for r in busy_report.rules if r.rule == "load-test")
    assert rule.inconclusive
    assert "the reference module measured 118.20 ms in the same run" in rule.message
    assert "some task waited for a CPU 97% of the time" in rule.message


@pytest.mark.parametrize("fmt", [f for f in Format if f is not Format.CYCLONEDX])
def test_every_format_shows_the_inconclusive_rule_and_why(busy_report, fmt):
    # Every format that shows the rules; a CycloneDX SBOM lists the module's parts only.
    text = render(busy_report, fmt)
    assert "inconclusive" in text
    assert "118.20 ms" in text


def test_machine_readable_formats_mark_inconclusive_in_their_own_terms(busy_report):
    rule = next(
        r for r in json.loads(render(busy_report, Format.JSON))["rules"] if r["rule"] == "load-test"
    )
    assert (rule["status"], rule["inconclusive"]) == ("healthy", True)
    sarif = json.loads(render(busy_report, Format.SARIF))
    (note,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "policy/load-test"]
    assert note["level"] == "note"
    junit = ET.fromstring(render(busy_report, Format.JUNIT).split("\n", 1)[1])  # noqa: S314
    case = junit.find(".//testcase[@name='load-test']")
    assert case is not None
    skipped = case.find("skipped")
    assert skipped is not None
    assert skipped.get("message", "").startswith("inconclusive: ")
    assert junit.get("failures") == "0"


def test_a_slow_module_on_a_busy_machine_is_still_degraded():
    test = _load_test([310.0] * 90 + [460.0] * 10, [2.0] * 90 + [140.0] * 10)
    report = assess(make_evidence(load_test=test))
    assert report.status is Status.DEGRADED
    assert report.reasons == ["load-test"]


def test_a_busy_probe_is_inconclusive_but_a_burning_one_is_not():
    slow_wait = Outcome(
        response=Response(status=200, body=b"ok"),
        usage=Usage(wall_ms=140.0, cpu_ms=0.1, host_cpu_ms=0.3),
    )
    burning = Outcome(
        response=Response(status=200, body=b"ok"),
        usage=Usage(wall_ms=320.0, cpu_ms=300.0, host_cpu_ms=305.0),
    )
    for outcome, status, inconclusive in (
        (slow_wait, Status.HEALTHY, True),
        (burning, Status.DEGRADED, False),
    ):
        evidence = make_evidence((outcome,) * 3)
        probe = evidence.probe.model_copy(update={"cpu_pressure": 0.97})
        report = assess(evidence.model_copy(update={"probe": probe}))
        rule = next(r for r in report.rules if r.rule == "latency-p95")
        assert (report.status, rule.inconclusive) == (status, inconclusive)


def test_without_a_reference_or_own_time_a_contended_latency_is_inconclusive():
    assert judge_latency(106.0, POLICY, pressure=0.9).inconclusive
    assert judge_latency(106.0, POLICY, pressure=0.01).status is Status.DEGRADED
    assert judge_latency(106.0, POLICY).status is Status.DEGRADED
