"""The hostile modules' behaviours as `reactor` handlers, on the reactor's fast path (issue 17
item 5): each ends in the violation the `command` ABI gives for the same code, with its
usage measured, and the trapped instance is replaced by a fresh one."""

from __future__ import annotations

import pytest

from sandbench.manifests import load
from sandbench.sandbox import Grants, Request, SandboxLimits, ViolationKind

from . import wat
from .test_wasm_host import imports, ref
from .test_wasm_sleep import clock

MiB = 1024 * 1024
LIMITS = SandboxLimits(
    memory_bytes=16 * MiB, cpu_millicores=1000, timeout_ms=1000, output_bytes=64 * 1024
)
_ANSWER_AT = 60_000  # inside the first page, clear of the data wat.py's modules use
OK_ANSWER = b"Status: 200\n\nok\n"


def reactor_of(command: str, answer: bytes = OK_ANSWER) -> str:
    """`command` (a wat.py module) as a reactor: `sandbench_handle` runs its `_start` body,
    then answers `answer`."""
    module, start, body = command.rpartition('(func (export "_start")')
    assert start, "not a wat.command module"
    assert body.endswith("))")
    packed = (_ANSWER_AT << 32) | len(answer)
    return f"""{module}(func $start{body[:-1]}
  (data (i32.const {_ANSWER_AT}) "{wat.wat_bytes(answer)}")
  (func (export "sandbench_alloc") (param i32) (result i32) (i32.const 32768))
  (func (export "sandbench_handle") (param i32 i32) (result i64)
    (call $start)
    (i64.const {packed})))"""


SLEEP_10S = wat.poll(clock(1, 10 * 10**9))
STORAGE_READ = wat.command(
    f"(drop (call $storage_read {ref(0, [b'docs'])} {ref(1, [b'docs', b'x'])}"
    " (i32.const 4096) (i32.const 64)))",
    imports=imports("storage_read"),
    extra='(data (i32.const 128) "docs") (data (i32.const 256) "x")',
)

HOSTILE = {
    "infinite-loop": (wat.SPIN, OK_ANSWER, {ViolationKind.CPU, ViolationKind.TIMEOUT}),
    "memory-bomb": (wat.MEMORY_BOMB, OK_ANSWER, {ViolationKind.MEMORY}),
    "stack-overflow": (wat.STACK, OK_ANSWER, {ViolationKind.STACK}),
    "trap": (wat.TRAP, OK_ANSWER, {ViolationKind.TRAP}),
    "exit-code": (wat.EXIT_3, OK_ANSWER, {ViolationKind.EXIT}),
    "output-flood": (wat.FLOOD, OK_ANSWER, {ViolationKind.OUTPUT}),
    "sleep-past-timeout": (SLEEP_10S, OK_ANSWER, {ViolationKind.TIMEOUT}),
    "bad-response": (wat.command(""), b"just some text without headers", {ViolationKind.PROTOCOL}),
}


def _load(backend, make_module, source, abi):
    result = backend.load(load(make_module(source, abi=abi)), LIMITS, Grants())
    assert result.instance is not None, result.violation
    return result.instance


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_handler_is_the_commands_violation_and_the_instance_is_replaced(
    backend, make_module, name
):
    command, answer, kinds = HOSTILE[name]
    with _load(backend, make_module, reactor_of(command, answer), "reactor") as instance:
        assert instance._live.fast is not None  # the exports' types put it on the fast path
        first, second = instance.invoke(Request()), instance.invoke(Request(body=b"x" * 64))
    assert first.violation is not None
    assert first.violation.kind in kinds, first.violation
    assert first.response is None
    assert first.usage.wall_ms > 0
    assert first.usage.cpu_ms > 0
    assert first.usage.fuel > 0
    assert second.violation is not None
    assert second.violation.kind in kinds
    assert second.usage.instantiate_ms > 0  # a trapped instance is never re-entered
    if name != "bad-response":  # the command ABI's bad response is its stdout, not this
        with _load(backend, make_module, command, "command") as same_as_command:
            assert same_as_command.invoke(Request()).violation.kind in kinds
    if first.violation.kind is ViolationKind.EXIT:
        assert first.violation.exit_code == 3


def test_a_handler_flooding_stderr_answers_with_the_rest_dropped_and_counted(backend, make_module):
    with _load(backend, make_module, reactor_of(wat.stderr_flood(20)), "reactor") as instance:
        outcomes = [instance.invoke(Request()) for _ in range(2)]
    for outcome in outcomes:
        assert outcome.ok, outcome.violation
        assert outcome.response.body == b"ok\n"
        assert len(outcome.stderr.encode()) == 16 * 1024  # each call's stderr is its own
        assert outcome.usage.stderr_dropped_bytes == 4 * 1024


def test_a_handler_using_storage_without_permission_is_denied_and_recorded(backend, make_module):
    with _load(backend, make_module, reactor_of(STORAGE_READ), "reactor") as instance:
        assert instance._live.fast is not None
        outcomes = [instance.invoke(Request()) for _ in range(2)]
    for outcome in outcomes:
        assert outcome.ok, outcome.violation
        assert [(d.capability, d.target, d.code) for d in outcome.host.denied] == [
            ("storage", "docs/x", "denied")
        ]


def test_output_past_the_cap_is_an_output_violation(backend, make_module):
    big = b"Status: 200\n\n" + b"x" * (LIMITS.output_bytes + 1)
    source = reactor_of(wat.command("", pages=3), big)
    with _load(backend, make_module, source, "reactor") as instance:
        outcome = instance.invoke(Request())
    assert outcome.violation.kind is ViolationKind.OUTPUT
    assert f"{LIMITS.output_bytes}-byte cap" in outcome.violation.message


def test_a_spinning_handler_on_the_native_path_stops_at_the_tickers_deadline(backend, make_module):
    # The deadline of a native call is set in C from the ticker's owed ticks, and the C
    # ticker advances the epoch: with CPU to spare, the wall-clock timeout ends the spin.
    limits = SandboxLimits(cpu_millicores=64_000, timeout_ms=100)
    result = backend.load(load(make_module(reactor_of(wat.SPIN), abi="reactor")), limits, Grants())
    assert result.instance is not None, result.violation
    with result.instance as instance:
        assert instance._live.fast is not None
        outcome = instance.invoke(Request())
    assert outcome.violation is not None
    assert outcome.violation.kind is ViolationKind.TIMEOUT, outcome.violation
    assert outcome.usage.wall_ms >= 100  # no upper bound: a busy machine is slower


def test_the_ticker_stops_at_once_twice_and_keeps_its_engines():
    import wasmtime

    from sandbench.sandbox.wasm.native import Ticker

    ticker = Ticker(wasmtime.Engine())
    ticker.add(wasmtime.Engine())  # the ticker keeps both engines alive until it is gone
    ticker.stop()
    ticker.stop()  # joined once; the second is a no-op
    ticker.expire_all()  # still safe: the engines are kept, only the thread is gone
    assert ticker.owed(ticker.start) == 0


def test_a_forked_child_gets_a_clear_error_from_its_copy_of_the_ticker():
    # A pthread does not survive fork: the child's copy refuses (workers are spawned and
    # build their own backend); `stop` has nothing to stop there, so a close still works.
    import os

    import wasmtime

    from sandbench.sandbox.wasm.native import Ticker

    ticker = Ticker(wasmtime.Engine())
    try:
        pid = os.fork()
        if pid == 0:  # the child: only the ticker's own checks run, then _exit, always
            code = 1
            try:
                ticker.owed()
            except RuntimeError as exc:
                code = 0 if "forked" in str(exc) else 2
            finally:
                try:
                    ticker.stop()  # must not raise: a close in the child still works
                except Exception:
                    code = 3
                finally:
                    os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert ticker.owed(ticker.start) == 0  # the parent's ticker is untouched
    finally:
        ticker.stop()
