"""What every WASM instance shares (docs/abi.md).

An instance serves one call at a time (a lock serializes concurrent callers). Every call
runs under its fuel budget and epoch deadline; whatever the module does ends in an
`Outcome`, never in an exception. The CPU a call used is the invoking thread's CPU time
around it; it is charged to the module's `ModuleCpu`, which every instance of the module
shares, and teaches it the module's fuel per CPU-second (docs/abi.md).

Stores are made in `store.py`, traps become violations in `traps.py`; the `command` ABI is
in `command.py`, the `reactor` ABI in `reactor.py`, the `component` ABI in `component.py`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import wasmtime

from sandbench.errors import SandboxError
from sandbench.hostapi import Activity
from sandbench.sandbox.budget import ModuleCpu, thread_cpu_s
from sandbench.sandbox.cgi import (
    ProtocolError,
    cgi_response_fields,
)
from sandbench.sandbox.host import storage_violation, with_activity
from sandbench.sandbox.interface import (
    Closing,
    Outcome,
    Request,
    Response,
    Usage,
    Violation,
    ViolationKind,
)

from .guards import guarded, own_context
from .host import bound
from .native import made
from .poll import scoped
from .store import Call, Spec, new_call
from .traps import classify, first_line, slept_past

__all__ = [
    "WASI",
    "Persistent",
    "Spec",
    "first_line",
]

WASI = "wasi_snapshot_preview1"
_NO_ACTIVITY = Activity()  # frozen: one for every outcome without host calls
_USAGE_FIELDS = frozenset(Usage.model_fields)
_RESPONSE_FIELDS = frozenset(Response.model_fields)
_OUTCOME_SET = frozenset({"response", "violation", "usage", "stderr"})


class _BaseInstance(Closing):
    """Locking, CPU share, storage quota and outcomes, shared by every ABI."""

    def __init__(self, spec: Spec) -> None:
        self._spec = spec
        self._closed = False
        self._lock = threading.Lock()

    @property
    def cpu(self) -> ModuleCpu:
        """The module's CPU accounting (share and fuel rate), shared by all its instances."""
        return self._spec.cpu

    def close(self) -> None:
        """See `Instance.close`."""
        self._closed = True
        if self._spec.host is not None:
            self._spec.host.close()

    def invoke(self, request: Request) -> Outcome:
        """See `Instance.invoke`."""
        with self._lock:
            if not self._spec.guards:  # nothing to count in host functions (guards.py)
                return self._invoke_scoped(request)
            outcome = guarded(lambda: self._invoke_scoped(request))
            if outcome.violation is not None:
                self._violated()  # a guard's violation replaced a clean outcome
            return outcome

    def _violated(self) -> None:
        """After a call that ended in a violation; an ABI keeping live instances drops it."""

    def _invoke_scoped(self, request: Request) -> Outcome:
        if not self._spec.call_state:  # nothing reads a PollState: none to scope
            return self._invoke_shared(request)
        with scoped():
            return self._invoke_shared(request)

    def _invoke_shared(self, request: Request) -> Outcome:
        """`invoke` under the instance's lock: the CPU share, the host API, the storage quota."""
        if self._closed:
            raise SandboxError("instance is closed")
        waited = self._spec.cpu.share.acquire(self._spec.limits.timeout_ms)
        if waited is None:
            return Outcome(violation=self._share_exhausted())
        host = self._spec.host
        if host is None:
            outcome = self._invoke(request, waited)
        else:
            host.begin()
            with bound(host):
                outcome = self._invoke(request, waited)
            outcome = with_activity(outcome, host)
        return self._storage_checked(outcome) if self._spec.writes_files else outcome

    def _storage_checked(self, outcome: Outcome) -> Outcome:
        """A call that left the writable buckets over `limits.storage` is a violation.

        WASI writes go straight to the preopened folders and cannot be cut off mid-call, so
        the quota is checked after each call of a module that can open files.
        """
        if not self._spec.writes_files or outcome.violation is not None:
            return outcome
        grants, limits = self._spec.grants, self._spec.limits
        violation = storage_violation(grants.storage_write, limits.storage_bytes)
        if violation is None:
            return outcome
        return outcome.model_copy(update={"violation": violation, "response": None})

    def _invoke(self, request: Request, throttled_ms: float) -> Outcome:
        raise NotImplementedError  # pragma: no cover

    def _arm(self, call: Call, stdin_bytes: int = 0) -> None:
        """Arm `call` with the deadline and the fuel of the module's per-call CPU budget."""
        call.arm(
            self._spec.limits.timeout_ms,
            self._spec.cpu.call_fuel(),
            stdin_bytes,
            self._spec.epoch_lag(),
        )

    def _new_call(
        self, env: list[tuple[str, str]], stdin: bytes | None, *, component: bool = False
    ) -> Call:
        """See `store.new_call`."""
        return new_call(self._spec, env, stdin, component=component)

    def _classify(self, call: Call, exc: Exception | None, memory: int, phase: str) -> Violation:
        """See `traps.classify`."""
        return classify(self._spec, call, exc, memory, phase)

    def _share_exhausted(self) -> Violation:
        return Violation(
            kind=ViolationKind.CPU,
            message=f"the module's CPU share ({self._spec.limits.cpu_millicores}m) is used up "
            "for longer than the timeout; it is called more often than its CPU limit allows",
        )

    def _finish(
        self,
        call: Call,
        memory: int,
        violation: Violation | None,
        output: bytes | None,
        instantiate_ms: float,
        throttled_ms: float,
        empty_line: tuple[int, int] = (-1, -1),
    ) -> Outcome:
        """The outcome of a call that returned `output` (or None) or broke the `violation`;
        `empty_line`: where the output's first empty line starts and ends, if the caller
        found it (`cgi_response_fields`)."""
        response = None
        if violation is None and call.poll.overslept:  # returned before an epoch check
            violation = slept_past(self._spec.limits.timeout_ms, "invoke")
        if violation is None and output is not None:
            try:
                fields = cgi_response_fields(output, *empty_line)
                response = made(Response, fields, _RESPONSE_FIELDS)
            except ProtocolError as exc:
                violation = Violation(kind=ViolationKind.PROTOCOL, message=str(exc))
        stderr = call.stderr.getvalue().decode("utf-8", "replace") if call.stderr.size else ""
        used = (memory, len(output or b""), instantiate_ms, throttled_ms)
        return self._outcome(call, response, violation, used, stderr)

    def _outcome(
        self,
        call: Call,
        response: Response | None,
        violation: Violation | None,
        used: tuple[int, int, float, float],
        stderr: str = "",
    ) -> Outcome:
        """The call's outcome, with what it used besides CPU and fuel (`call` has those):
        `used` is linear memory at its end, the bytes it wrote, the milliseconds
        instantiation took and those spent waiting for the module's CPU share.

        Charges the CPU the call used to the module's share (unless the native call did)
        and learns its fuel rate. The thread's CPU clock is read once here if the call's
        was not read yet: that reading ends both the module's CPU and the host's (only the
        outcome's own construction, about a microsecond, comes after it). A native call
        (reactor.py) read both clocks at its end: its host CPU is its CPU.
        """
        ended_here = call.cpu_s is None or call.wall_s >= 0
        cpu_s = call.stop()
        wall_s = call.wall_s if call.wall_s >= 0 else time.perf_counter() - call.started
        fuel = call.fuel_used()
        if call.charged:
            self._spec.cpu.learn(fuel, cpu_s)
        else:
            self._spec.cpu.settle(fuel, cpu_s)
        host_cpu_s = cpu_s if ended_here else thread_cpu_s() - call.cpu_started
        memory, output_bytes, instantiate_ms, throttled_ms = used
        # Built from values this module computed: skip validation on the hot path.
        usage_of = made(
            Usage,
            {
                "wall_ms": wall_s * 1000,
                "cpu_ms": cpu_s * 1000,
                "host_cpu_ms": host_cpu_s * 1000,
                "fuel": fuel,
                "memory_bytes": memory,
                "output_bytes": output_bytes,
                "instantiate_ms": instantiate_ms,
                "throttled_ms": throttled_ms,
                "slept_ms": call.poll.slept_s * 1000,
                "stderr_dropped_bytes": call.stderr.dropped,
            },
            _USAGE_FIELDS,
        )
        # As `built(Outcome, {"host": Activity()}, ...)` made it: `host` is not among the set.
        return made(
            Outcome,
            {
                "response": response,
                "violation": violation,
                "usage": usage_of,
                "stderr": stderr,
                "host": _NO_ACTIVITY,
            },
            _OUTCOME_SET,
        )


class Persistent(_BaseInstance):
    """An ABI that keeps one live instance between calls and re-creates it after any
    violation (a trapped instance is never re-entered). Subclasses make the live instance
    in `_instantiate`; it must carry the `Call` of its store as `.call`."""

    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        self._live: Any = None

    def close(self) -> None:
        """See `Instance.close`."""
        with self._lock:
            self._discard()
            super().close()

    def _violated(self) -> None:
        self._discard()

    def _discard(self) -> None:
        if self._live is not None:
            self._live.call.store.close()
            self._live = None

    def warm_up(self) -> Violation | None:
        """Instantiate now (running the module's initialisation), so failures show at load."""
        with self._lock, bound(self._spec.host), scoped():
            return own_context(self._ensure)[1]

    def _new_store(self) -> Call:
        raise NotImplementedError  # pragma: no cover

    def _instantiate(self, call: Call) -> Any:
        """Instantiate in `call.store` and return the live instance (raises on a trap)."""
        raise NotImplementedError  # pragma: no cover

    def _ensure(self) -> tuple[float, Violation | None]:
        """Make sure a live instance exists; returns (instantiate ms, violation)."""
        if self._live is not None:
            return 0.0, None
        call = self._new_store()
        try:
            self._arm(call)
            live = self._instantiate(call)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            violation = self._classify(call, exc, 0, "instantiate")
            self._spec.cpu.settle(call.fuel_used(), call.stop(), learn=False)
            call.store.close()
            return 0.0, violation
        self._spec.cpu.settle(call.fuel_used(), call.stop(), learn=False)
        self._live = live
        return (time.perf_counter() - call.started) * 1000, None

    def _invoke(self, request: Request, throttled_ms: float) -> Outcome:
        instantiate_ms, violation = (0.0, None) if self._live is not None else self._ensure()
        if violation is not None or self._live is None:
            return Outcome(violation=violation, usage=Usage(instantiate_ms=instantiate_ms))
        outcome = self._call(self._live, request, instantiate_ms, throttled_ms)
        if outcome.violation is not None:
            self._discard()  # a trapped instance is never re-entered
        return outcome

    def _call(
        self, live: Any, request: Request, instantiate_ms: float, throttled_ms: float
    ) -> Outcome:
        """One request on the live instance `live` (any violation discards it afterwards)."""
        raise NotImplementedError  # pragma: no cover
