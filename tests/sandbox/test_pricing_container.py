"""examples/modules/pricing-container: pricing-py's handler, unchanged, in a container module.

The benchmark (benchmarks/test_component.py) compares the component and this container
running the same `app.py`; these tests keep the copy identical and the module healthy.
"""

from __future__ import annotations

import json

import pytest

from sandbench import check
from sandbench.manifests import load
from sandbench.reports import Policy, SignatureStatus, Status
from sandbench.sandbox import Grants, Request, SandboxLimits
from tests.conftest import EXAMPLES

MODULE = EXAMPLES / "pricing-container"
# The engine is shared with other runs: judge the module here, not start-up speed.
PATIENT = Policy(max_load_ms=10_000, p95_degraded_ms=2_000, p95_critical_ms=4_000)
ORDER = {
    "items": [
        {"sku": "A-1", "qty": 2, "unit_price": "19.90"},
        {"sku": "BR-220", "qty": 3, "unit_price": "5.49"},
    ],
    "customer": {"tier": "gold"},
    "coupon": "WELCOME10",
}


def test_the_handler_is_pricing_py_byte_for_byte():
    copy = (MODULE / "app.py").read_bytes()
    assert copy == (EXAMPLES / "pricing-py" / "app.py").read_bytes(), (
        "examples/modules/pricing-container/app.py differs from pricing-py/app.py: copy it "
        "again and re-sign the module (its signature covers app.py)"
    )


@pytest.mark.docker
def test_pricing_container_is_healthy_and_signed(engine):
    report = check(MODULE, backend=engine, calls=3, policy=PATIENT)
    assert report.status is Status.HEALTHY, [r for r in report.rules if r.status != "healthy"]
    assert report.signature.status is SignatureStatus.VALID
    assert report.violations == []


@pytest.mark.docker
def test_pricing_container_quotes_validates_and_logs_to_the_platform(engine):
    limits = SandboxLimits(memory_bytes=64_000_000, cpu_millicores=500)
    result = engine.load(load(MODULE), limits, Grants())
    assert result.instance is not None, result.violation
    with result.instance as instance:
        quote = instance.invoke(
            Request(method="POST", path="/quote", body=json.dumps(ORDER).encode())
        )
        bad = dict(ORDER, coupon="NOPE")
        refused = instance.invoke(
            Request(method="POST", path="/quote", body=json.dumps(bad).encode())
        )
    assert quote.ok, quote.violation
    assert quote.response.status == 200
    assert ("content-type", "application/json") in quote.response.headers
    answer = json.loads(quote.response.body)
    assert [line["total"] for line in answer["lines"]] == ["39.80", "16.47"]
    assert (answer["subtotal"], answer["discount"], answer["coupon"]) == ("56.27", "5.63", "10.00")
    assert (answer["tax"], answer["total"]) == ("8.53", "49.17")
    assert [(line.level, line.message) for line in quote.host.logs] == [
        ("debug", "quoted 2 line(s), total 49.17")
    ]
    assert refused.response.status == 422
    assert json.loads(refused.response.body) == {"error": "coupon: unknown coupon 'NOPE'"}
    assert [line.message for line in refused.host.logs] == [
        "rejected quote: coupon: unknown coupon 'NOPE'"
    ]
