"""The example modules through the whole `check` pipeline, on the real WASM backend.

Every hostile module must get its own violation and the verdict `critical`, and the same
process must then still serve a healthy module.
"""

from __future__ import annotations

import pytest

from sandbench import check
from sandbench.manifests import load
from sandbench.reports import SignatureStatus, Status

from .conftest import EXAMPLES

HOSTILE = {
    "memory-bomb": ("memory", "invoke"),
    # A spin ends at its CPU budget or at its wall-clock deadline, whichever comes first:
    # on a busy machine it may not get its CPU before the deadline.
    "infinite-loop": ("cpu|timeout", "invoke"),
    "spin-start": ("cpu|timeout", "instantiate"),
    "stack-overflow": ("stack-overflow", "invoke"),
    "output-flood": ("output", "invoke"),
    "unknown-import": ("unknown-import", "load"),
    "read-outside": ("exit", "invoke"),
    "bad-response": ("protocol", "invoke"),
    "exit-code": ("exit", "invoke"),
    "trap": ("trap", "invoke"),
}
HEALTHY = ["hello", "hello-reactor", "vendas", "vendas-reactor"]
# Spinning modules are stopped by the fuel at their CPU budget or by the wall-clock deadline,
# whichever comes first: a first call's fuel assumes the highest fuel rate seen, so a loop
# burning less fuel per CPU-second runs into the timeout (docs/abi.md, `cpu: 250m`).


def test_every_hostile_example_is_covered():
    # hostile/host-* (host API) modules are covered in tests/sandbox/test_wasm_host_examples.py
    # and, for host-container, tests/sandbox/test_container_host.py; hostile/py-* (Python
    # components) in tests/sandbox/test_component.py; hostile/container-* in
    # tests/sandbox/test_container_security.py
    dirs = (EXAMPLES / "hostile").iterdir()
    others = ("host-", "py-", "container-")
    assert {p.name for p in dirs if p.is_dir() and not p.name.startswith(others)} == set(HOSTILE)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_module_is_contained_then_a_healthy_one_still_works(backend, name):
    kind, phase = HOSTILE[name]
    report = check(EXAMPLES / "hostile" / name, backend=backend)
    assert report.status is Status.CRITICAL
    assert [(v.kind, v.phase) for v in report.violations] in [
        [(one, phase)] for one in kind.split("|")
    ]
    assert report.signature.status is SignatureStatus.VALID
    after = check(EXAMPLES / "hello", backend=backend)
    assert after.status is Status.HEALTHY, after.rules


def test_read_outside_leaks_nothing_and_every_attempt_is_denied(backend):
    report = check(EXAMPLES / "hostile" / "read-outside", backend=backend)
    (violation,) = report.violations
    assert violation.exit_code == 1
    assert "root:" not in violation.message
    assert "/etc/passwd: Capabilities insufficient" in violation.message
    assert "pwned.txt: Operation not permitted" in violation.message
    assert "all attempts denied" in violation.message


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_examples_are_healthy_and_signed(backend, name):
    report = check(EXAMPLES / name, backend=backend)
    assert report.status is Status.HEALTHY, [r for r in report.rules if r.status != "healthy"]
    assert report.signature.status is SignatureStatus.VALID
    assert report.violations == []
    assert report.health is not None
    assert report.health.ok == report.health.calls == 5


def test_vendas_command_and_reactor_answer_byte_identically(backend):
    from sandbench.sandbox import Grants, Request, SandboxLimits

    order = b"sku,quantity,unit_price_cents\nCAFE-500G,2,2990\nACUCAR-1KG,3,549\n"
    request = Request(method="POST", path="/quote", query="currency=USD", body=order)
    bodies = []
    for name in ("vendas", "vendas-reactor"):
        result = backend.load(load(EXAMPLES / name), SandboxLimits(), Grants())
        with result.instance as instance:
            outcome = instance.invoke(request)
        assert outcome.ok, outcome.violation
        bodies.append((outcome.response.status, outcome.response.body))
    assert bodies[0] == bodies[1]
    assert bodies[0][0] == 200
    assert b'"subtotal_cents":7627' in bodies[0][1]
    assert b'"tax_cents":1373' in bodies[0][1]
    assert b'"total_cents":9000' in bodies[0][1]
