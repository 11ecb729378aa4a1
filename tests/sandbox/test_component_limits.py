"""`limits.hostcalls` for Python components (`abi: component`) on the real WASM backend: the
host interface's functions are counted per request, as for core modules. The probe's
`/log` makes four host calls: two `log` lines and two printed lines (the guest sends
`print` to the host log)."""

from __future__ import annotations

import pytest

from sandbench.manifests import load
from sandbench.runtime import limits_for
from sandbench.sandbox import Grants, Request, SandboxLimits, ViolationKind

LOG_CALLS = 4


def probe(backend, components, host_calls: int):
    package = load(components["probe"])
    applied = limits_for(package.manifest, SandboxLimits(), SandboxLimits()).limits
    result = backend.load(package, applied.model_copy(update={"host_calls": host_calls}), Grants())
    assert result.violation is None, result.violation
    return result.instance


def test_host_calls_past_the_limit_are_refused_and_end_in_a_hostcalls_violation(
    backend, components
):
    with probe(backend, components, LOG_CALLS - 1) as instance:
        outcomes = [instance.invoke(Request(path="/log")) for _ in range(2)]
    for outcome in outcomes:  # counted afresh for each request
        assert outcome.violation is not None
        assert outcome.violation.kind is ViolationKind.HOSTCALLS
        assert outcome.violation.message == (
            "1 host call(s) refused with the error code quota: the request had already made "
            "limits.hostcalls (3); make fewer host calls per request (batch them) or raise "
            "limits.hostcalls"
        )
        assert outcome.response is None
        served = [line.message for line in outcome.host.logs]
        assert served == ["probe info line", "probe warn line", "printed to stdout"]
        refused = [(c.capability, c.action, c.code, c.detail) for c in outcome.host.denied]
        assert refused == [("log", "log", "quota", "past limits.hostcalls")]


@pytest.mark.parametrize("host_calls", [LOG_CALLS, 1000])
def test_host_calls_within_the_limit_are_all_served(backend, components, host_calls):
    with probe(backend, components, host_calls) as instance:
        outcomes = [instance.invoke(Request(path="/log")) for _ in range(3)]
    for outcome in outcomes:
        assert outcome.ok, outcome.violation
        assert len(outcome.host.logs) == LOG_CALLS
        assert outcome.host.denied == ()


def test_the_report_says_files_is_not_enforced_for_a_component(components):
    from sandbench.pipeline import check
    from sandbench.reports import render_text

    report = check(components["pricing-py"], cache_dir=components.cache_dir, calls=1, warm_runs=1)
    assert report.status != "critical", report.reasons
    skipped = {s.check_id: s.reason for s in report.skipped}
    assert skipped["limits.files"] == (
        "not enforced for runtime.abi component: wasmtime links WASI 0.2 whole, natively, with "
        "no hook through which sandbench could count the files a component opens"
    )
    assert f"  skipped    limits.files: {skipped['limits.files']}" in render_text(report)
