"""One host call round trip through `sandbench:host/v1` against a bare wasmtime host function.

Both sides run the same module in plain wasmtime stores: an export `run(n)` calls the
imported function `n` times with the same pointers. The baseline links a bare Python host
function of the same type that returns 0; sandbench links its real host API (`define_host`,
a `HostApi` bound as the sandbox binds it). The ratio of medians over `CALLS` calls is the
overhead of one round trip: argument passing is the same, the difference is reading the
guest's memory, the grant check, the capability itself and the record it leaves. The
`counted` line adds what `limits.hostcalls` costs (sandbox/wasm/hostcalls.py: the
functions defined again, counted, and a budget armed per round as the backend arms it
per call).

Both sides are timed on the calling thread's CPU clock (`time.thread_time`, user and
system time): everything either side does (the wasm, the host function, the storage
capability's system calls) runs on that thread without waiting, so on a quiet machine it
reads as the wall clock does, and on a shared one the other processes do not stretch one
side's rounds and not the other's (wall-clock medians here swung from 0.2x to 2x between
runs of the same code at load 15).
"""

from __future__ import annotations

import time

import pytest
import wasmtime

from sandbench.hostapi import HostApi, HostSettings
from sandbench.manifests import parse_permission
from sandbench.sandbox.wasm.guards import own_context
from sandbench.sandbox.wasm.host import FUNCTIONS, NAMESPACE, bound, define_host
from sandbench.sandbox.wasm.hostcalls import HostCallBudget, HostCallGuard

pytestmark = pytest.mark.benchmark(timer=time.thread_time)

CALLS = 200
STRINGS = {"bucket": (256, b"docs"), "key": (384, b"hello.txt"), "line": (512, b"order priced")}
ARGS = {
    "log": "(i32.const 1) (i32.const 512) (i32.const 12)",
    "storage_read": "(i32.const 256) (i32.const 4) (i32.const 384) (i32.const 9) "
    "(i32.const 4096) (i32.const 1024)",
}


def _module(engine: wasmtime.Engine, name: str) -> wasmtime.Module:
    params = " i32" * FUNCTIONS[name][0]
    data = "\n".join(f'(data (i32.const {o}) "{s.decode()}")' for o, s in STRINGS.values())
    return wasmtime.Module(
        engine,
        f"""(module
      (import "{NAMESPACE}" "{name}" (func $f (param{params}) (result i32)))
      (memory (export "memory") 1)
      {data}
      (func (export "run") (param $n i32) (result i32)
        (local $sum i32)
        (loop $again
          (local.set $sum (i32.add (local.get $sum) (call $f {ARGS[name]})))
          (local.tee $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $again))
        (local.get $sum)))""",
    )


def _runner(linker: wasmtime.Linker, module: wasmtime.Module):
    store = wasmtime.Store(linker.engine)
    run = linker.instantiate(store, module).exports(store)["run"]
    assert isinstance(run, wasmtime.Func)
    return lambda: run(store, CALLS)


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    bucket = tmp_path_factory.mktemp("docs")
    (bucket / "hello.txt").write_bytes(b"hello, host API\n")
    api = HostApi(
        [parse_permission("storage:read:docs")],
        storage_read={"docs": bucket},
        storage_write={},
        storage_bytes=10**6,
        network=None,
        settings=HostSettings(),
    )
    yield api
    api.close()


@pytest.mark.parametrize("name", ["log", "storage_read"])
def test_host_call_raw(benchmark, name):
    benchmark.group = f"host-call-{name}"
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    ty = wasmtime.FuncType([wasmtime.ValType.i32()] * FUNCTIONS[name][0], [wasmtime.ValType.i32()])
    linker.define_func(NAMESPACE, name, ty, lambda *args: 0)
    assert benchmark(_runner(linker, _module(engine, name))) == 0


@pytest.mark.parametrize("name", ["log", "storage_read"])
def test_host_call_sandbench(benchmark, host, name):
    benchmark.group = f"host-call-{name}"
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    define_host(linker)
    run = _runner(linker, _module(engine, name))

    def one_round() -> int:
        host.begin()  # a fresh log budget, as every invocation gets
        with bound(host):
            result = run()
        host.recorder.drain()
        return int(result)

    assert benchmark(one_round) == _expected(name)


@pytest.mark.parametrize("name", ["log", "storage_read"])
def test_host_call_counted(benchmark, host, name):
    benchmark.group = f"host-call-{name}"
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.allow_shadowing = True
    define_host(linker)
    HostCallGuard().define(linker, engine)
    run = _runner(linker, _module(engine, name))
    budget = HostCallBudget(CALLS)

    def one_round() -> int:
        host.begin()
        budget.arm()
        with bound(host):
            result = run()
        host.recorder.drain()
        return int(result)

    assert own_context(lambda: benchmark(one_round)) == _expected(name)
    assert budget.used == CALLS
    assert budget.refused == 0


def _expected(name: str) -> int:
    # The log budget (64 KiB) holds all CALLS lines of 12 bytes.
    return {"log": 0, "storage_read": CALLS * len(b"hello, host API\n")}[name]
