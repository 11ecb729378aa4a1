"""The fast call paths (fastcall.py, hostcall.py) keep every result and limit of the checked ones."""

from __future__ import annotations

import pytest
import wasmtime
from pydantic import ValidationError

from sandbench.manifests import load
from sandbench.sandbox import Outcome, Request, Response, SandboxLimits, Usage, ViolationKind
from sandbench.sandbox.construct import built
from sandbench.sandbox.interface import Grants, Violation
from sandbench.sandbox.wasm.hostcall import caller_memory, define_i32_func
from sandbench.sandbox.wasm.native import made as native_made

MiB = 1024 * 1024
LIMITS = SandboxLimits(memory_bytes=16 * MiB, cpu_millicores=1000, timeout_ms=1000)
_HEAD = "Status: 201\\nContent-Type: text/plain\\n\\n"

# Each call grows memory by one page and writes its answer at the start of the new page:
# the host must read from the grown memory (its base address may move when it grows).
GROWING = f"""(module
  (memory (export "memory") 1)
  (data (i32.const 0) "{_HEAD}grown")
  (func (export "sandbench_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sandbench_handle") (param i32 i32) (result i64)
    (local $at i32)
    (local.set $at (i32.mul (memory.grow (i32.const 1)) (i32.const 65536)))
    (memory.copy (local.get $at) (i32.const 0) (i32.const 43))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $at)) (i64.const 32)) (i64.const 43))))"""
# sandbench_alloc takes an i64: not the ABI's exact type, so the checked path serves it.
LOOSE_TYPES = f"""(module
  (memory (export "memory") 1)
  (data (i32.const 0) "{_HEAD}loose")
  (func (export "sandbench_alloc") (param i64) (result i32) (i32.const 1024))
  (func (export "sandbench_handle") (param i32 i32) (result i64) (i64.const 43)))"""
# Echoes the request envelope's size and first byte back as the body's two bytes.
ECHO_LEN = f"""(module
  (memory (export "memory") 1)
  (data (i32.const 0) "{_HEAD}..")
  (func (export "sandbench_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "sandbench_handle") (param $ptr i32) (param $len i32) (result i64)
    (i32.store8 (i32.const 38) (local.get $len))
    (i32.store8 (i32.const 39) (i32.load8_u (local.get $ptr)))
    (i64.const 40)))"""
SPIN_HANDLE = """(module
  (memory (export "memory") 1)
  (func (export "sandbench_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sandbench_handle") (param i32 i32) (result i64) (loop $l (br $l)) (i64.const 0)))"""
NEGATIVE_ALLOC = """(module
  (memory (export "memory") 1)
  (func (export "sandbench_alloc") (param i32) (result i32) (i32.const -8))
  (func (export "sandbench_handle") (param i32 i32) (result i64) (i64.const 0)))"""
HUGE_OUTPUT = """(module
  (memory (export "memory") 1)
  (func (export "sandbench_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sandbench_handle") (param i32 i32) (result i64) (i64.const 0xffffffff)))"""


def _calls(backend, make_module, source, requests, limits=LIMITS):
    package = load(make_module(source, abi="reactor"))
    result = backend.load(package, limits, Grants())
    assert result.instance is not None, result.violation
    with result.instance as instance:
        return [instance.invoke(request) for request in requests]


def test_answer_is_read_from_grown_memory(backend, make_module):
    outcomes = _calls(backend, make_module, GROWING, [Request()] * 3)
    assert [o.response.body for o in outcomes] == [b"grown"] * 3
    assert [o.response.status for o in outcomes] == [201] * 3
    assert [o.usage.memory_bytes for o in outcomes] == [2 * 65536, 3 * 65536, 4 * 65536]


def test_exports_of_other_types_still_answer_through_the_checked_path(backend, make_module):
    (outcome,) = _calls(backend, make_module, LOOSE_TYPES, [Request()])
    assert outcome.ok, outcome.violation
    assert outcome.response.body == b"loose"


def test_the_envelope_arrives_where_alloc_said(backend, make_module):
    (outcome,) = _calls(backend, make_module, ECHO_LEN, [Request(method="PUT", body=b"z" * 9)])
    envelope_len = len(b"PUT / HTTP/1.1\r\ncontent-length: 9\r\n\r\n") + 9
    assert outcome.response.body == bytes([envelope_len, ord("P")])


def test_spinning_handler_is_stopped_and_the_instance_replaced(backend, make_module):
    limits = SandboxLimits(memory_bytes=16 * MiB, cpu_millicores=1000, timeout_ms=200)
    outcomes = _calls(backend, make_module, SPIN_HANDLE, [Request()] * 2, limits)
    for outcome in outcomes:
        assert outcome.violation.kind in (ViolationKind.CPU, ViolationKind.TIMEOUT)
        assert outcome.usage.cpu_ms > 0
    assert outcomes[1].usage.instantiate_ms > 0  # a trapped instance is never re-entered


@pytest.mark.parametrize(
    ("source", "kind", "words"),
    [
        (NEGATIVE_ALLOC, ViolationKind.PROTOCOL, "returned -8"),
        (HUGE_OUTPUT, ViolationKind.OUTPUT, "output exceeded"),
    ],
)
def test_abi_misuse_is_a_violation(backend, make_module, source, kind, words):
    (outcome,) = _calls(backend, make_module, source, [Request()])
    assert outcome.violation.kind is kind
    assert words in outcome.violation.message


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (Usage, {"wall_ms": 1.5, "fuel": 7}),
        (Response, {"status": 204, "headers": (("a", "b"),), "body": b"x"}),
        (
            Outcome,
            {"violation": Violation(kind=ViolationKind.TRAP, message="m"), "stderr": "e"},
        ),
    ],
)
def test_built_models_equal_model_construct(cls, values):
    defaults = {
        name: field.get_default(call_default_factory=True)
        for name, field in cls.model_fields.items()
        if name not in values
    }
    slow = cls.model_construct(**values)
    made_in_c = native_made(cls, {**defaults, **values}, frozenset(values))
    for fast in (built(cls, defaults, **values), made_in_c):
        assert type(fast) is cls
        assert fast == slow
        assert fast.model_fields_set == slow.model_fields_set
        assert fast.model_dump() == slow.model_dump()
        with pytest.raises(ValidationError):  # frozen like any other
            fast.stderr = "changed"  # type: ignore[misc]


def test_native_made_refuses_what_is_not_a_model_and_its_fields():
    with pytest.raises(TypeError):
        native_made(dict, {}, frozenset())
    with pytest.raises(TypeError):
        native_made(Usage, [("fuel", 1)], frozenset())


def _host_module(engine, body: str, memory: bool = True) -> wasmtime.Module:
    mem = '(memory (export "memory") 1) (data (i32.const 0) "hi")' if memory else ""
    return wasmtime.Module(
        engine,
        f"""(module
          (import "t" "f" (func $f (param i32 i32) (result i32)))
          {mem}
          (func (export "run") (result i32) {body}))""",
    )


def _run_host(func, body="(call $f (i32.const 0) (i32.const 2))", memory=True):
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    define_i32_func(linker, "t", "f", 2, func)
    store = wasmtime.Store(engine)
    run = linker.instantiate(store, _host_module(engine, body, memory)).exports(store)["run"]
    return run(store)


def test_unchecked_host_function_gets_its_i32s_and_the_callers_memory():
    seen = []

    def f(caller, ptr, length):
        memory = caller_memory(caller)
        seen.append((ptr, length, memory.read(ptr, max(length, 0)), memory.size()))
        memory.write(0, b"HI")
        return -7  # an i32 result keeps its sign

    body = "(drop (call $f (i32.const 0) (i32.const 2))) (call $f (i32.const 1) (i32.const -1))"
    assert _run_host(f, body) == -7
    assert seen == [(0, 2, b"hi", 65536), (1, -1, b"", 65536)]  # i32s arrive signed


def test_the_caller_is_gone_once_the_host_call_returns():
    kept = []

    def f(caller, a, b):
        kept.append(caller)
        return int(caller_memory(caller) is not None)

    assert _run_host(f) == 1
    # wasmtime has freed the caller: its memory is no longer reachable through it.
    with pytest.raises(ValueError, match="returned"):
        caller_memory(kept[0])


def test_unchecked_host_function_without_memory_and_its_exception():
    assert _run_host(lambda caller, a, b: int(caller_memory(caller) is None), memory=False) == 1

    def boom(caller, a, b):
        raise KeyError("the host function's own error")

    # As with `Linker.define_func`: the exception itself comes out of the call.
    with pytest.raises(KeyError, match="own error"):
        _run_host(boom)
