"""The three alert rules of docs/bench.md, verbatim, evaluated on the exposition of running
gateways: the error rate per module, load failures, the p95 per module."""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from sandbench.manifests import load
from sandbench.reports import Policy
from sandbench.runtime.gateway import Gateway, ModuleSpec
from sandbench.runtime.server import BackgroundServer, module_specs
from sandbench.sandbox import FakeBackend, Grants, Outcome, Response, SandboxLimits
from tests.conftest import EXAMPLES
from tests.runtime.test_gateway import fetch

from .promql import Scrape, evaluate

BENCH_MD = Path(__file__).resolve().parents[2] / "docs" / "bench.md"


def rules() -> dict[str, str]:
    """alert name -> expr, from the yaml block of docs/bench.md."""
    block = re.search(r"^```yaml\n(.*?)^```", BENCH_MD.read_text(), re.S | re.M)
    assert block is not None
    groups = yaml.safe_load(block.group(1))["groups"]
    return {r["alert"]: r["expr"] for g in groups for r in g["rules"]}


def scrape(url: str) -> Scrape:
    _, _, text = fetch(url, "/metrics")
    found: Scrape = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def modules(vector) -> set[str]:
    return {dict(labels).get("module", "") for labels in vector}


def test_the_docs_give_three_rules():
    assert set(rules()) == {"ModuleErrorRateHigh", "ModuleLoadFailing", "ModuleLatencyHigh"}


OK = Outcome(response=Response(status=200, body=b"ok"))
FAIL = Outcome(response=Response(status=500, body=b"x"))


def measured(name: str, script: list[Outcome], warm: int, count: int) -> tuple[Scrape, Scrape]:
    """Scrapes before and after `count` requests to a gateway serving `script` as `name`.

    `warm` requests first, so that every series already exists when `before` is scraped:
    as in Prometheus, a series born between two scrapes has no rate yet.
    """
    spec = ModuleSpec(name, load(EXAMPLES / "hello"), SandboxLimits(), Grants())
    with (
        Gateway([spec], FakeBackend(script), instances=1) as gateway,
        BackgroundServer(gateway) as server,
    ):
        gateway.start()
        for _ in range(warm):
            fetch(server.url, f"/{name}/")
        before = scrape(server.url)
        for _ in range(count):
            fetch(server.url, f"/{name}/")
        return before, scrape(server.url)


def test_the_error_rate_rule_fires_on_the_rate_not_on_any_5xx():
    # a: 1 answer in 300 is a 500 (0.33 %, under 0.5 %); b: 10 in 30.
    a = measured("a", [OK, FAIL, *[OK] * 298, FAIL, OK], warm=2, count=300)
    b = measured("b", [OK, FAIL, *[OK] * 20, FAIL], warm=2, count=30)
    before, after = {**a[0], **b[0]}, {**a[1], **b[1]}
    fired = evaluate(rules()["ModuleErrorRateHigh"], before, after)
    assert fired == {frozenset({("module", "b")}): pytest.approx(10 / 30)}
    # Without `sum by (module)` on both sides each 5xx series is divided by itself: 1.0.
    naive = 'rate(http_requests_total{status=~"5.."}[5m]) / rate(http_requests_total[5m])'
    assert set(evaluate(naive, before, after).values()) == {1.0}
    assert modules(evaluate(naive + " > 0.005", before, after)) == {"a", "b"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from sandbench.sandbox.wasm import WasmBackend

    policy = Policy()
    with ExitStack() as stack:
        backend = stack.enter_context(WasmBackend(tmp_path_factory.mktemp("gw-cache")))
        paths = [EXAMPLES / name for name in ("hello", "hostile/unknown-import")]
        specs = module_specs(paths, policy.defaults.sandbox(), policy.ceilings.sandbox(), stack)
        gateway = stack.enter_context(Gateway(specs, backend, instances=1, retry_s=0.0))
        gateway.start()
        yield stack.enter_context(BackgroundServer(gateway)).url


def test_load_failures_start_at_zero_and_the_rule_sees_a_failed_reload(served):
    before = scrape(served)
    assert before[("module_load_failures_total", frozenset({("module", "hello")}))] == 0
    assert before[("module_load_failures_total", frozenset({("module", "unknown-import")}))] == 1
    assert fetch(served, "/unknown-import/")[0] == 503  # the reload fails again
    fetch(served, "/hello/")
    fired = evaluate(rules()["ModuleLoadFailing"], before, scrape(served))
    assert fired == {frozenset({("module", "unknown-import")}): 1.0}


def test_the_latency_rule_is_per_module(served):
    before = scrape(served)
    for _ in range(20):
        fetch(served, "/hello/")
    after = scrape(served)
    expr = rules()["ModuleLatencyHigh"]
    p95 = evaluate(expr.rsplit(" > ", 1)[0], before, after)
    assert modules(p95) == {"hello"}  # one series per module, not one for the gateway
    assert 0 < p95[frozenset({("module", "hello")})] <= 10
    threshold = float(expr.rsplit(" > ", 1)[1])
    assert modules(evaluate(expr, before, after)) == (
        {"hello"} if p95[frozenset({("module", "hello")})] > threshold else set()
    )
