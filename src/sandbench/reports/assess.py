"""`assess`: the policy's rules applied to the evidence, and the report built from both.

Each rule looks at the evidence and either passes or names a status and says why. The
report's status is the worst rule's, and `reasons` lists the rules that set it.

| rule | fires when | status |
|---|---|---|
| `module-loads` | the module did not load (invalid, unknown import, trap in `start`, ...) | critical |
| `limit-violations` | any health call broke a limit or failed (trap, exit, protocol) | critical |
| `health-status` | a health call answered with another status than `health.expect.status` | critical |
| `health-body` | a health answer lacks `health.expect.contains` | critical |
| `error-rate` | failed health calls above `max_error_rate` (0.5 %, the canary rollback threshold) | critical |
| `latency-p95` | p95 of the health calls above 100 ms (degraded) or 500 ms (critical); on a busy machine their own time is judged (`reports.latency`) | degraded / critical / inconclusive |
| `load-test` | the load test's error rate above `max_error_rate` (critical), or its p95 above the latency thresholds, less the reference module's p95 from the same run (`reports.latency`) | degraded / critical / inconclusive |
| `load-time` | the load from the compile cache (the cold load when none was measured) took longer than 500 ms | degraded |
| `signature` | the signature does not match the digest (critical) or there is none (degraded) | critical / degraded |
| `publisher-signature` | `module.sig` is bad, revoked or by a key not allowed for the name (critical); unsigned or an unknown key, when an allowed-signers file is given (`[signatures] unsigned`, degraded); see `reports.publisher` | critical / degraded |
| `limits-clamped` | a declared limit was above the policy's ceiling and was cut down | degraded |
| `gate-deadline` | the gate passed its overall deadline (policy `gate_deadline_s`, 120 s) and stopped what was left | critical |
| `host-denials` | a host API call was refused: no permission (critical), or the rate or storage quota (degraded) | critical / degraded |
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

from sandbench.sandbox import CPU_WINDOW_S, Outcome, Violation
from sandbench.scanners import Finding

from .drawn import policy_thresholds
from .latency import judge_latency
from .model import (
    DependencyStatus,
    Evidence,
    FindingReport,
    HealthProbe,
    HealthReport,
    HostApiReport,
    HostCallReport,
    HostLogReport,
    LimitsApplied,
    LoadReport,
    LoadTestReport,
    Metrics,
    RuleResult,
    ScannerRunReport,
    SignatureReport,
    SignatureStatus,
    Status,
    ToolInfo,
    ViolationReport,
)
from .policy import Policy
from .publisher import author_report, publisher_report, publisher_signature

__all__ = ["RULES", "assess"]


Rule = Callable[[Evidence, Policy], Iterator[RuleResult]]


def _result(
    rule: str, status: Status | None, message: str, *, inconclusive: bool = False
) -> RuleResult:
    return RuleResult(
        rule=rule, status=status or Status.HEALTHY, message=message, inconclusive=inconclusive
    )


def _module_loads(ev: Evidence, _: Policy) -> Iterator[RuleResult]:
    v = ev.load_violation
    if v is None:
        yield _result("module-loads", None, f"loaded in {ev.load.cold_ms:.1f} ms (cold)")
    else:
        yield _result("module-loads", Status.CRITICAL, f"did not load: {v.kind}: {v.message}")


def _limit_violations(ev: Evidence, _: Policy) -> Iterator[RuleResult]:
    if ev.probe is None:
        return
    bad = [o.violation for o in ev.probe.outcomes if o.violation is not None]
    if not bad:
        yield _result("limit-violations", None, "no health call broke a limit")
        return
    first = bad[0]
    yield _result(
        "limit-violations",
        Status.CRITICAL,
        f"{len(bad)} of {len(ev.probe.outcomes)} health calls failed; first: "
        f"{first.kind}: {first.message}",
    )


def _health_answers(ev: Evidence, _: Policy) -> Iterator[RuleResult]:
    if ev.probe is None:
        return
    answers = [o.response for o in ev.probe.outcomes if o.response is not None]
    if not answers:
        return
    wrong = [r.status for r in answers if r.status != ev.expect.status]
    yield _result(
        "health-status",
        Status.CRITICAL if wrong else None,
        f"expected status {ev.expect.status}, got {sorted(set(wrong))}"
        if wrong
        else f"all {len(answers)} answers had status {ev.expect.status}",
    )
    needle = ev.expect.contains
    if needle is not None:
        missing = sum(1 for r in answers if needle.encode() not in r.body)
        yield _result(
            "health-body",
            Status.CRITICAL if missing else None,
            f"{missing} of {len(answers)} answers lack {needle!r}"
            if missing
            else f"every answer contains {needle!r}",
        )


def _error_rate(ev: Evidence, policy: Policy) -> Iterator[RuleResult]:
    if ev.probe is None:
        return
    rate = error_rate(ev)
    over = rate > policy.max_error_rate
    yield _result(
        "error-rate",
        Status.CRITICAL if over else None,
        f"error rate {rate:.1%} over {len(ev.probe.outcomes)} calls "
        f"({'above' if over else 'within'} {policy.max_error_rate:.1%})",
    )


# Below this many samples a p95 is just the slowest call: one scheduler hiccup on a shared
# machine would decide the verdict. The rule then judges the median and says so.
MIN_P95_SAMPLES = 20


def _latency(ev: Evidence, policy: Policy) -> Iterator[RuleResult]:
    if ev.probe is None:
        return
    stats, own = ev.probe.latency_ms, ev.probe.own_ms
    enough = stats.n >= MIN_P95_SAMPLES
    value, name = (stats.p95, "p95") if enough else (stats.median, "median")
    judged = judge_latency(
        value,
        policy,
        own=own.p95 if enough else own.median,
        pressure=ev.probe.cpu_pressure,
    )
    note = "" if enough else f" (a p95 needs {MIN_P95_SAMPLES} calls)"
    yield _result(
        "latency-p95",
        judged.status,
        f"{name} {value:.2f} ms over {stats.n} calls{note} (degraded above "
        f"{policy.p95_degraded_ms:g} ms, critical above {policy.p95_critical_ms:g} ms)"
        f"{judged.note}",
        inconclusive=judged.inconclusive,
    )


def _load_time(ev: Evidence, policy: Policy) -> Iterator[RuleResult]:
    if ev.load_violation is not None:
        return
    # Compiling is paid once per artifact and cached (a 7 s compile of a Python component
    # would make every one degraded): judge the load from the cache when it was measured.
    load, warm = ev.load, ev.load.warm
    if warm is not None and load.cache_hit:
        value = warm.median
        what = (
            f"load from the compile cache {value:.1f} ms (median of {warm.n}; cold load "
            f"with compiling {load.cold_ms:.1f} ms)"
        )
    else:
        value, what = load.cold_ms, f"cold load {load.cold_ms:.1f} ms"
    slow = value > policy.max_load_ms
    yield _result(
        "load-time",
        Status.DEGRADED if slow else None,
        f"{what} ({'above' if slow else 'within'} {policy.max_load_ms:g} ms)",
    )


def _signature(ev: Evidence, policy: Policy) -> Iterator[RuleResult]:
    status = signature_status(ev)
    if status is SignatureStatus.VALID:
        yield _result("signature", None, "signature matches the module digest")
    elif status is SignatureStatus.UNSIGNED:
        yield _result(
            "signature",
            policy.unsigned,
            "module.json has no signature; add the one `sandbench manifest digest DIR` prints",
        )
    else:
        yield _result(
            "signature",
            Status.CRITICAL,
            f"signature does not match: the module's files digest to SHA256:{ev.digest}; "
            "changed them? `sandbench build DIR` (a Python component: rebuilds too) or "
            "`sandbench manifest digest --write DIR` signs them again",
        )


def _load_test(ev: Evidence, policy: Policy) -> Iterator[RuleResult]:
    test = ev.load_test
    if test is None:
        return
    p95, rate = test.latency_ms.p95, test.error_rate
    reference = test.reference_ms.p95 if test.reference_ms is not None else None
    judged = judge_latency(p95, policy, reference=reference, pressure=test.cpu_pressure)
    failed = rate > policy.max_error_rate
    shown = "" if reference is None or judged.note else f" (reference module {reference:.2f} ms)"
    yield _result(
        "load-test",
        Status.CRITICAL if failed else judged.status,
        f"{test.requests} requests at {test.achieved_rps:.0f}/s (target "
        f"{test.config.rate:g}/s): p95 {p95:.2f} ms from intended send times{shown}, "
        f"error rate {rate:.2%}{judged.note}",
        inconclusive=judged.inconclusive and not failed,
    )


def _findings(ev: Evidence, policy: Policy) -> Iterator[RuleResult]:
    if not ev.scans:
        return
    found = [f for scan in ev.scans for f in scan.findings]
    ranked = [(policy.status_for_severity(f.severity.value), f) for f in found]
    worst = max((s for s, _ in ranked if s), key=lambda s: s.rank, default=None)
    if worst is None:
        yield _result("findings", None, f"{len(found)} findings, none at a failing severity")
        return
    counted = Counter(f.severity.value for s, f in ranked if s is worst)
    first = next(f for s, f in ranked if s is worst)
    summary = ", ".join(f"{n} {sev}" for sev, n in sorted(counted.items()))
    yield _result(
        "findings", worst, f"{summary}; first: {first.scanner} {first.rule_id}: {first.message}"
    )


def _scans_ran(ev: Evidence, policy: Policy) -> Iterator[RuleResult]:
    if not ev.scans:
        return
    missing = [s for s in ev.scans if s.skipped_reason is not None]
    required = [s for s in missing if s.scanner in policy.required_scans]
    if not missing:
        yield _result("scans-complete", None, f"all {len(ev.scans)} scanners ran")
        return
    text = "; ".join(f"{s.scanner}: {s.skipped_reason}" for s in missing)
    yield _result("scans-complete", Status.CRITICAL if required else Status.DEGRADED, text)


def _clamped(ev: Evidence, _: Policy) -> Iterator[RuleResult]:
    notes = ev.applied.clamped
    yield _result(
        "limits-clamped",
        Status.DEGRADED if notes else None,
        "; ".join(notes) + "; the ceiling applies" if notes else "declared limits within ceilings",
    )


def _host_denials(ev: Evidence, _: Policy) -> Iterator[RuleResult]:
    report = _host_api(ev)
    if report is None:  # the module made no host call: nothing to judge
        return
    if not report.denied:
        total = sum(group.count for group in report.calls)
        yield _result("host-denials", None, f"{total} host API call(s), none refused")
        return
    unpermitted = [d for d in report.denied if d.code == "denied"]
    # A call refused before it was read (limits.hostcalls) has no target: show why instead.
    shown = "; ".join(
        f"{d.capability} {d.action} {d.target or d.detail} ({d.code} x{d.count})"
        for d in report.denied[:5]
    )
    more = f" and {len(report.denied) - 5} more" if len(report.denied) > 5 else ""
    if unpermitted:
        message = f"host API calls without a permission were refused: {shown}{more}"
        yield _result("host-denials", Status.CRITICAL, message)
    else:
        message = f"host API calls ran into a limit: {shown}{more}"
        yield _result("host-denials", Status.DEGRADED, message)


def _deadline(ev: Evidence, _: Policy) -> Iterator[RuleResult]:
    d = ev.deadline
    if d is None:  # not a gate
        return
    if not d.cut and d.elapsed_s <= d.limit_s:
        yield _result("gate-deadline", None, f"done in {d.elapsed_s:.1f} s of {d.limit_s:g} s")
        return
    cut = "; ".join(d.cut) or "nothing left to stop"
    yield _result(
        "gate-deadline",
        Status.CRITICAL,
        f"the gate's deadline of {d.limit_s:g} s (policy gate_deadline_s) passed after "
        f"{d.elapsed_s:.1f} s; stopped: {cut}",
    )


RULES: tuple[Rule, ...] = (
    _module_loads,
    _limit_violations,
    _health_answers,
    _error_rate,
    _latency,
    _load_test,
    _load_time,
    _signature,
    publisher_signature,
    _clamped,
    _findings,
    _scans_ran,
    _host_denials,
    _deadline,
)


def signature_status(ev: Evidence) -> SignatureStatus:
    """Compare the declared signature with the digest."""
    if ev.declared_signature is None:
        return SignatureStatus.UNSIGNED
    declared = ev.declared_signature.split(":", 1)[1].lower()
    return SignatureStatus.VALID if declared == ev.digest else SignatureStatus.MISMATCH


def error_rate(ev: Evidence) -> float:
    """Failed health calls (a violation or an unexpected status) over all calls; 1.0 if none ran."""
    if ev.probe is None or not ev.probe.outcomes:
        return 1.0
    failed = sum(
        1
        for o in ev.probe.outcomes
        if o.response is None or o.violation is not None or o.response.status != ev.expect.status
    )
    return failed / len(ev.probe.outcomes)


def _violations(ev: Evidence) -> list[ViolationReport]:
    found: list[Violation] = [ev.load_violation] if ev.load_violation else []
    if ev.probe is not None:
        found += [o.violation for o in ev.probe.outcomes if o.violation is not None]
    counts = Counter((v.kind.value, v.message, v.phase, v.exit_code) for v in found)
    details = {(v.kind.value, v.message, v.phase, v.exit_code): v.detail for v in reversed(found)}
    return [
        ViolationReport(
            kind=key[0],
            message=key[1],
            phase=key[2],
            exit_code=key[3],
            count=n,
            detail=details[key],
        )
        for key, n in counts.items()
    ]


def _cpu_millicores(outcomes: tuple[Outcome, ...]) -> float:
    """The module's CPU-seconds per wall second over the calls `outcomes`, in millicores:
    the scale of `limits.cpu`.

    The wall time is the calls' own plus the waits the CPU share imposed before them,
    counted as at least `CPU_WINDOW_S` (one second), the window `limits.cpu` holds over.
    Over a shorter span the figure would be the calls' burst, near a full core for any
    busy call whatever the limit, not a use comparable to it. So it passes the limit only
    when the module did use more than the limit within that second (the first burst the
    share holds, or a call running past its budget)."""
    elapsed_ms = sum(o.usage.wall_ms + o.usage.throttled_ms for o in outcomes)
    cpu_ms = sum(o.usage.cpu_ms for o in outcomes)
    return round(cpu_ms / max(elapsed_ms, CPU_WINDOW_S * 1000) * 1000, 1)


def _metrics(ev: Evidence) -> Metrics:
    outcomes = ev.probe.outcomes if ev.probe else ()
    dependencies = {
        name: DependencyStatus.OK if provided else DependencyStatus.ERROR
        for name, provided in ev.dependencies.items()
    }
    return Metrics(
        load_time=round(ev.load.cold_ms, 3),
        error_rate=round(error_rate(ev), 6),
        memory_usage=max((o.usage.memory_bytes for o in outcomes), default=0),
        cpu_usage=_cpu_millicores(outcomes),
        dependencies=dependencies,
    )


def _host_api(ev: Evidence) -> HostApiReport | None:
    """The health calls' host API activity, grouped; None when there was none."""
    activities = [o.host for o in ev.probe.outcomes] if ev.probe is not None else []
    calls = [call for activity in activities for call in activity.calls]
    logs = [line for activity in activities for line in activity.logs]
    if not calls and not logs:
        return None
    groups: dict[tuple[str, str, str, str, str], HostCallReport] = {}
    for call in calls:
        key = (call.capability, call.action, call.target, call.code, call.detail)
        seen = groups.get(key)
        groups[key] = (
            seen.model_copy(update={"count": seen.count + 1})
            if seen is not None
            else HostCallReport(
                capability=call.capability,
                action=call.action,
                target=call.target,
                code=call.code,
                detail=call.detail,
                first_at=call.at,
            )
        )
    grouped = list(groups.values())
    return HostApiReport(
        calls=grouped,
        denied=[g for g in grouped if g.code in ("denied", "rate", "quota")],
        logs=[
            HostLogReport(level=line.level, message=line.message, fields=line.fields)
            for line in logs[:100]
        ],
        dropped_log_bytes=sum(a.dropped_log_bytes for a in activities),
        dropped_calls=sum(a.dropped_calls for a in activities),
    )


def _health(ev: Evidence) -> HealthProbe | None:
    if ev.probe is None:
        return None
    outcomes = ev.probe.outcomes
    answers = [o.response for o in outcomes]
    sample = next((r.body for r in answers if r is not None), b"")
    return HealthProbe(
        method=ev.request.method,
        path=ev.request.path + (f"?{ev.request.query}" if ev.request.query else ""),
        expect_status=ev.expect.status,
        calls=len(outcomes),
        ok=sum(
            1 for o in outcomes if o.ok and o.response and o.response.status == ev.expect.status
        ),
        statuses=[r.status if r is not None else None for r in answers],
        latency_ms=ev.probe.latency_ms,
        sample_body=sample[:512].decode("utf-8", "replace"),
        samples_ms=[round(o.usage.wall_ms + o.usage.throttled_ms, 4) for o in outcomes],
        stderr_dropped_bytes=sum(o.usage.stderr_dropped_bytes for o in outcomes),
        cpu_samples_ms=[round(o.usage.cpu_ms, 6) for o in outcomes],
    )


def _load_test_report(ev: Evidence) -> LoadTestReport | None:
    test = ev.load_test
    if test is None:
        return None
    return LoadTestReport(
        target_rps=test.config.rate,
        duration_s=test.config.duration_s,
        requests=test.requests,
        errors=test.errors,
        error_rate=round(test.error_rate, 6),
        achieved_rps=round(test.achieved_rps, 1),
        latency_ms=test.latency_ms,
        service_ms=test.service_ms,
        thresholds=[
            f"{t.threshold}: {'pass' if t.passed else 'FAIL'} ({t.observed:g})"
            for t in test.thresholds
        ],
        warnings=list(test.warnings),
    )


def assess(ev: Evidence, policy: Policy | None = None) -> HealthReport:
    """Apply `policy` (the built-in one if None) to the evidence and build the report."""
    policy = policy or Policy()
    results = [result for rule in RULES for result in rule(ev, policy)]
    status = max((r.status for r in results), key=lambda s: s.rank, default=Status.HEALTHY)
    limits = ev.applied.limits
    return HealthReport(
        module_id=ev.module_id,
        version=ev.version,
        status=status,
        metrics=_metrics(ev),
        last_check=ev.checked_at,
        reasons=[r.rule for r in results if r.status is status and status is not Status.HEALTHY],
        rules=results,
        thresholds=policy_thresholds(policy, results),
        violations=_violations(ev),
        limits=LimitsApplied.model_validate(
            {
                **limits.numbers(),
                "network": str(limits.network) if limits.network else "none",
                "clamped": ev.applied.clamped,
            }
        ),
        signature=SignatureReport(
            status=signature_status(ev), digest=ev.digest, declared=ev.declared_signature
        ),
        author=author_report(ev),
        publisher=publisher_report(ev),
        load=LoadReport(
            cold_ms=round(ev.load.cold_ms, 3),
            compile_ms=round(ev.load.compile_ms, 3),
            warm_ms=ev.load.warm,
            cache_hit=ev.load.cache_hit,
            cold_measured_at=ev.load.cold_measured_at,
        ),
        health=_health(ev),
        load_test=_load_test_report(ev),
        findings=[
            finding_report(f)
            for f in sorted(
                (f for scan in ev.scans for f in scan.findings),
                key=lambda f: (f.severity.rank, f.scanner, f.rule_id, str(f.path), f.line or 0),
            )
        ],
        scans=[
            ScannerRunReport(
                scanner=s.scanner,
                findings=len(s.findings),
                skipped_reason=s.skipped_reason,
                summary=s.summary,
                database=s.database.describe(ev.checked_at) if s.database else None,
                elapsed_ms=round(s.elapsed_ms, 1),
            )
            for s in ev.scans
        ],
        skipped=list(ev.skipped),
        tool=ToolInfo(
            version=ev.tool_version,
            backend=ev.backend,
            policy=policy.source,
            components=ev.components,
        ),
        host_api=_host_api(ev),
        parts=ev.parts,
    )


def finding_report(f: Finding) -> FindingReport:
    """A scanner's finding as the report shows it."""
    return FindingReport(
        scanner=f.scanner,
        rule_id=f.rule_id,
        severity=f.severity.value,
        confidence=f.confidence.value,
        message=f.message,
        path=f.path.as_posix() if f.path is not None else None,
        line=f.line,
        fingerprint=f.fingerprint,
        remediation=f.remediation,
    )
