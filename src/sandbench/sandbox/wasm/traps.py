"""What a WASM call that failed did: the table that turns a trap into a `Violation`.

`classify` walks `RULES` in order and the first rule whose test holds names the violation;
the order matters (an overflowing output or an overslept deadline explains a trap better
than the trap's own code, and a plain trap is the fallback). wasmtime-py raises `Trap` with
a `trap_code` for core modules, `ExitTrap` for `proc_exit`, and a bare `WasmtimeError` whose
text names the trap for components (see `_TRAP_TEXTS`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import wasmtime

from sandbench.sandbox.budget import CappedOutput
from sandbench.sandbox.interface import Violation, ViolationKind

from .store import Call, Spec

__all__ = ["RULES", "Trapped", "classify", "first_line", "slept_past"]

_CAUSE = re.compile(r"^\d+: ")  # the number of an entry of wasmtime's "Caused by:" list

_WHAT = {
    "instantiate": "instantiation (its start function or _initialize)",
    "invoke": "the request",
}

# What a component call's `WasmtimeError` says when it wraps a trap (wasmtime-py raises
# no `Trap` for components).
_TRAP_TEXTS = {
    "all fuel consumed": wasmtime.TrapCode.OUT_OF_FUEL,
    "wasm trap: interrupt": wasmtime.TrapCode.INTERRUPT,
    "call stack exhausted": wasmtime.TrapCode.STACK_OVERFLOW,
}


@dataclass(frozen=True)
class Trapped:
    """A failed call as the rules see it. `exc` is None when the call returned but its
    output overflowed; `text` is the trap's first line and `code` its trap code, if any."""

    spec: Spec
    call: Call
    exc: Exception | None
    memory: int
    phase: str

    @cached_property
    def text(self) -> str:
        return first_line(self.exc) if self.exc is not None else ""

    @cached_property
    def code(self) -> wasmtime.TrapCode | None:
        if isinstance(self.exc, wasmtime.Trap):
            return self.exc.trap_code
        return _trap_code(self.exc) if self.exc is not None else None


@dataclass(frozen=True)
class Rule:
    """One row of the table: when it applies, the violation's kind and its message."""

    applies: Callable[[Trapped], bool]
    kind: ViolationKind
    message: Callable[[Trapped], str]


def _output(t: Trapped) -> str:
    return (
        f"output exceeded the {t.spec.limits.output_bytes}-byte cap; "
        "send less or raise the policy's output limit"
    )


def _interrupted(t: Trapped) -> str:
    return f"{_WHAT[t.phase]} still running after limits.timeout ({t.spec.limits.timeout_ms} ms)"


def _out_of_memory(t: Trapped) -> str:
    return (
        f"failed after reaching limits.memory ({t.spec.limits.memory_bytes:,} bytes; "
        f"linear memory {t.memory:,} bytes): {t.text}"
    )


def _exited(t: Trapped) -> str:
    stderr = f"; stderr: {_tail(t.call.stderr)}" if t.call.stderr.size else ""
    return f"exited with status {_exit_code(t)}{stderr}"


def _cpu_spent(t: Trapped) -> str:
    """What an out-of-fuel call used, in real CPU, against its budget."""
    limits, cpu, call = t.spec.limits, t.spec.cpu, t.call
    rate = call.fuel / cpu.call_budget_s
    source = (
        "this module's measured rate"
        if cpu.rate.samples
        else "the highest rate seen, until this module's is measured"
    )
    return (
        f"used {call.stop() * 1000:.0f} ms of CPU before finishing {_WHAT[t.phase]}, against "
        f"a budget of {cpu.call_budget_s * 1000:.0f} ms ({limits.cpu_millicores}m for "
        f"{limits.timeout_ms} ms; the fuel stop assumed {rate:.2g} fuel per CPU-second, "
        f"{source}); make it cheaper or raise limits.cpu"
    )


def _overslept(t: Trapped) -> str:
    return _slept_message(t.spec.limits.timeout_ms, t.phase)


RULES: tuple[Rule, ...] = (
    Rule(lambda t: t.exc is None or t.call.stdout.overflowed, ViolationKind.OUTPUT, _output),
    Rule(lambda t: t.call.poll.overslept, ViolationKind.TIMEOUT, _overslept),
    # A component's unlinked import.
    Rule(
        lambda t: "matching implementation was not found" in t.text,
        ViolationKind.UNKNOWN_IMPORT,
        lambda t: t.text,
    ),
    Rule(lambda t: t.code == wasmtime.TrapCode.OUT_OF_FUEL, ViolationKind.CPU, _cpu_spent),
    Rule(lambda t: t.code == wasmtime.TrapCode.INTERRUPT, ViolationKind.TIMEOUT, _interrupted),
    Rule(
        lambda t: (
            "exceeds memory limits" in t.text or _near_limit(t.memory, t.spec.limits.memory_bytes)
        ),
        ViolationKind.MEMORY,
        _out_of_memory,
    ),
    Rule(lambda t: isinstance(t.exc, wasmtime.ExitTrap), ViolationKind.EXIT, _exited),
    Rule(
        lambda t: t.code == wasmtime.TrapCode.STACK_OVERFLOW,
        ViolationKind.STACK,
        lambda t: "call stack exhausted (unbounded recursion?)",
    ),
    Rule(lambda t: True, ViolationKind.TRAP, lambda t: f"trapped: {t.text}"),
)


def classify(spec: Spec, call: Call, exc: Exception | None, memory: int, phase: str) -> Violation:
    """The violation for a call that raised `exc` (None: it returned but overflowed); the
    first row of `RULES` that applies decides. Never raises for anything the module did."""
    trapped = Trapped(spec=spec, call=call, exc=exc, memory=memory, phase=phase)
    rule = next(r for r in RULES if r.applies(trapped))
    if rule.kind is ViolationKind.EXIT:
        return Violation(
            kind=rule.kind,
            phase=phase,
            exit_code=_exit_code(trapped),
            message=rule.message(trapped),
        )
    return Violation(kind=rule.kind, phase=phase, message=rule.message(trapped))


def slept_past(timeout_ms: int, phase: str) -> Violation:
    """The timeout of a call still sleeping in `poll_oneoff` at its deadline."""
    return Violation(
        kind=ViolationKind.TIMEOUT, phase=phase, message=_slept_message(timeout_ms, phase)
    )


def first_line(exc: BaseException) -> str:
    """The sentence that says what happened, without wasmtime's backtrace. When a host
    function failed, wasmtime's first line is only "error while executing at wasm
    backtrace:" and what happened is in its "Caused by:" list: that list, joined."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    for line in lines:
        if "wasm trap:" in line:
            return line.split("wasm trap:", 1)[1].strip()
    if "Caused by:" in lines and lines[0].startswith("error while executing"):
        causes = lines[lines.index("Caused by:") + 1 :]
        return "host call failed: " + ": ".join(_CAUSE.sub("", c) for c in causes)[:300]
    return lines[0] if lines else type(exc).__name__


def _slept_message(timeout_ms: int, phase: str) -> str:
    return (
        f"{_WHAT[phase]} was still sleeping (poll_oneoff) at limits.timeout "
        f"({timeout_ms} ms); sleep less or raise limits.timeout"
    )


def _exit_code(t: Trapped) -> int:
    return t.exc.code if isinstance(t.exc, wasmtime.ExitTrap) else 0


def _trap_code(exc: Exception) -> wasmtime.TrapCode | None:
    text = str(exc)
    return next((code for needle, code in _TRAP_TEXTS.items() if needle in text), None)


def _near_limit(memory: int, limit: int) -> bool:
    """Did linear memory get within reach of the limit (one MiB or 5 %, whichever is more)?"""
    return memory > 0 and limit - memory < max(1024 * 1024, limit // 20)


def _tail(output: CappedOutput) -> str:
    text = output.getvalue().decode("utf-8", "replace").strip()
    return text[-300:].replace("\n", " | ")
