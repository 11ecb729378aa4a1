"""Instantiate + invoke overhead of the command and reactor paths, and load times.

Run `make bench`; the summary prints each sandbench path over its raw baseline.
"""

from __future__ import annotations

import pytest
import wasmtime

from sandbench.manifests import load
from sandbench.sandbox import (
    Grants,
    Request,
    SandboxLimits,
    cgi_environment,
    request_envelope,
)

from .conftest import EXAMPLES
from .raw import RawCommand, RawExtism, RawReactor, compile_module

LIMITS = SandboxLimits()
ORDER = b"sku,quantity,unit_price_cents\nCAFE-500G,2,2990\nACUCAR-1KG,3,549\nFILTRO-103,1,1275\n"
REQUESTS = {
    "hello": Request(),
    "vendas": Request(method="POST", path="/quote", query="currency=BRL", body=ORDER),
}


def _ours(backend, name: str):
    result = backend.load(load(EXAMPLES / name), LIMITS, Grants())
    assert result.instance is not None, result.violation
    return result.instance


@pytest.mark.parametrize("module", ["hello", "vendas"])
def test_command_raw(benchmark, module, tmp_path):
    benchmark.group = f"command-{module}"
    request = REQUESTS[module]
    raw = RawCommand(load(EXAMPLES / module).entry_path, tmp_path)
    env = cgi_environment(request, "module")
    output = benchmark(raw, env, request.body)
    assert b"200" in output.split(b"\n", 1)[0]


@pytest.mark.parametrize("module", ["hello", "vendas"])
def test_command_sandbench(benchmark, backend, module):
    benchmark.group = f"command-{module}"
    with _ours(backend, module) as instance:
        outcome = benchmark(instance.invoke, REQUESTS[module])
    assert outcome.ok
    assert outcome.response.status == 200


@pytest.mark.parametrize("module", ["hello", "vendas"])
def test_reactor_raw(benchmark, module):
    benchmark.group = f"reactor-{module}"
    raw = RawReactor(load(EXAMPLES / f"{module}-reactor").entry_path)
    output = benchmark(raw, request_envelope(REQUESTS[module]))
    assert output.startswith(b"Status: 200")


@pytest.mark.parametrize("module", ["hello", "vendas"])
def test_reactor_sandbench(benchmark, backend, module):
    benchmark.group = f"reactor-{module}"
    with _ours(backend, f"{module}-reactor") as instance:
        outcome = benchmark(instance.invoke, REQUESTS[module])
    assert outcome.ok
    assert outcome.response.status == 200


# Issue 17's per-call target: a reactor call with 64 B in and out against Extism's call.
# hello-reactor ignores its input and answers 62 bytes; its request carries a 64-byte body.
BODY_64 = b"x" * 64


def test_reactor64_raw_extism(benchmark):
    benchmark.group = "reactor-64B-extism"
    extism = RawExtism()
    assert benchmark(extism, BODY_64) == BODY_64


def test_reactor64_sandbench(benchmark, backend):
    benchmark.group = "reactor-64B-extism"
    with _ours(backend, "hello-reactor") as instance:
        outcome = benchmark(instance.invoke, Request(method="POST", body=BODY_64))
    assert outcome.ok
    assert len(outcome.response.body) + 41 == 62  # the 41-byte head, the 21-byte body


def test_load_cold_raw(benchmark):
    benchmark.group = "load-cold-vendas"
    engine = wasmtime.Engine()
    entry = load(EXAMPLES / "vendas").entry_path
    benchmark(compile_module, engine, entry)


def test_load_cold_sandbench(benchmark, backend):
    benchmark.group = "load-cold-vendas"
    package = load(EXAMPLES / "vendas")

    def cold():
        backend.load(package, LIMITS, Grants(), fresh=True).instance.close()

    benchmark(cold)


def test_load_warm_raw(benchmark, tmp_path):
    benchmark.group = "load-warm-vendas"
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    artifact = tmp_path / "vendas.cwasm"
    artifact.write_bytes(compile_module(engine, load(EXAMPLES / "vendas").entry_path).serialize())

    def warm():
        linker.instantiate_pre(wasmtime.Module.deserialize_file(engine, str(artifact)))

    benchmark(warm)


def test_load_warm_sandbench(benchmark, backend):
    benchmark.group = "load-warm-vendas"
    package = load(EXAMPLES / "vendas")
    backend.load(package, LIMITS, Grants()).instance.close()

    def warm():
        result = backend.load(package, LIMITS, Grants())
        assert result.cache_hit
        result.instance.close()

    benchmark(warm)
