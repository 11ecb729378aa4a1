"""The `component` ABI: WebAssembly components of the world `sandbench:platform/module`.

A component (usually Python built by `sandbench build`, docs/components.md) exports
`handle: func(request) -> result<response, failure>` and may import WASI 0.2 and the
platform's host API (`sandbench:platform/host`). Like a reactor it keeps one live instance
between calls, under the same CPU model (measured thread CPU, fuel calibrated per module),
epoch deadline and memory limit, and is
re-instantiated after any violation: a trapped instance is never re-entered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import wasmtime
from wasmtime import component as wc

from sandbench.hostapi import HostResult
from sandbench.hostapi.abi import HOST_INTERFACE
from sandbench.sandbox.interface import (
    Outcome,
    Request,
    Response,
    Violation,
    ViolationKind,
)

from .host import current_host
from .hostcalls import counted
from .instances import Persistent
from .store import Call, Spec
from .traps import first_line

__all__ = [
    "EXPORT",
    "HOST_RESULT_CAP",
    "ComponentInstance",
    "ComponentSpec",
    "define_component_host",
]

EXPORT = "handle"
# A component's host calls have no out buffer: results are capped here instead (docs/abi.md).
HOST_RESULT_CAP = 1024 * 1024

_FAILURES = {
    "exception": ViolationKind.TRAP,
    "memory": ViolationKind.MEMORY,
    "recursion": ViolationKind.STACK,
    "file-denied": ViolationKind.STORAGE,
    "network-denied": ViolationKind.NETWORK_DENIED,
    "process-denied": ViolationKind.PROCESS,
}


@dataclass(kw_only=True)
class ComponentSpec(Spec):
    """A `Spec` with the compiled component and the linker that instantiates it."""

    linker: wc.Linker
    component: wc.Component


@dataclass
class _Live:
    call: Call
    handle: wc.Func


class ComponentInstance(Persistent):
    """`component` ABI: one live instance, re-created after any violation."""

    def __init__(self, spec: ComponentSpec) -> None:
        super().__init__(spec)
        self._cspec = spec

    def _new_store(self) -> Call:
        return self._new_call([], None, component=True)

    def _instantiate(self, call: Call) -> _Live:
        instance = self._cspec.linker.instantiate(call.store, self._cspec.component)
        handle = instance.get_func(call.store, EXPORT)
        if handle is None:
            raise wasmtime.WasmtimeError(f"the component exports no `{EXPORT}` function")
        return _Live(call=call, handle=handle)

    def _call(
        self, live: _Live, request: Request, instantiate_ms: float, throttled_ms: float
    ) -> Outcome:
        call = live.call
        response: Response | None = None
        violation: Violation | None = None
        output = 0
        try:
            self._arm(call)
            result = live.handle(call.store, _request(request))
            response, violation, output = self._answer(result)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            violation = self._classify(call, exc, 0, "invoke")
        except (TypeError, ValueError, AttributeError) as exc:
            # A `handle` of another shape than the world's: wasmtime-py's conversions fail.
            violation = Violation(
                kind=ViolationKind.PROTOCOL,
                message=f"`{EXPORT}` does not have the type of the world "
                f"sandbench:platform/module ({type(exc).__name__}: {first_line(exc)}); "
                "build the module with `sandbench build`",
            )
        # Memory 0: wasmtime-py exposes no component's memories (reports say "not measured").
        return self._outcome(call, response, violation, (0, output, instantiate_ms, throttled_ms))

    def _answer(self, result: Any) -> tuple[Response | None, Violation | None, int]:
        """The response (or violation) in what `handle` returned, and its body size."""
        if getattr(result, "tag", None) == "err":
            failure = result.payload
            kind = _FAILURES.get(str(failure.kind), ViolationKind.TRAP)
            head, _, chain = str(failure.message).partition("\n")
            violation = Violation(
                kind=kind, message=_failure_message(kind, head), detail=chain.strip()[-4000:]
            )
            return None, violation, 0
        payload = result.payload
        body = str(payload.body).encode("latin-1", "replace")
        cap = self._spec.limits.output_bytes
        if len(body) > cap:
            return None, _output_violation(len(body), cap), len(body)
        status = int(payload.status)
        if not 100 <= status <= 599:
            return None, Violation(kind=ViolationKind.PROTOCOL, message=f"status {status}"), 0
        headers = tuple((str(k).lower(), str(v)) for k, v in payload.headers)
        return Response(status=status, headers=headers, body=body), None, len(body)


def _request(request: Request) -> wc.Record:
    record = wc.Record()
    record.__dict__.update(
        method=request.method,
        path=request.path,
        query=request.query,
        headers=list(request.headers),
        body=request.body.decode("latin-1"),
    )
    return record


def _failure_message(kind: ViolationKind, message: str) -> str:
    text = " ".join(message.split())[:600]
    hints = {
        ViolationKind.TRAP: "the handler raised: ",
        ViolationKind.MEMORY: "an allocation passed limits.memory (MemoryError): ",
        ViolationKind.STACK: "recursion too deep (RecursionError): ",
        ViolationKind.STORAGE: "file access outside the storage grants: ",
        ViolationKind.NETWORK_DENIED: "tried to use the network directly: ",
        ViolationKind.PROCESS: "tried to start a process: ",
    }
    return hints.get(kind, "") + text


def _output_violation(size: int, cap: int) -> Violation:
    return Violation(
        kind=ViolationKind.OUTPUT,
        message=f"the response body has {size:,} bytes, over the {cap:,}-byte output cap; "
        "send less or raise the policy's output limit",
    )


# The host API as the world's imports. A function answers `result<T, error-code>`:
# wasmtime-py wants a tagged `Variant` where ok and err are both strings, a bare value else.


def _bytes(result: HostResult) -> wc.Variant:
    if not result.ok:
        return wc.Variant("err", result.code.label)
    return wc.Variant("ok", result.data.decode("latin-1"))


def _text(result: HostResult) -> wc.Variant:
    if not result.ok:
        return wc.Variant("err", result.code.label)
    return wc.Variant("ok", result.data.decode("utf-8", "replace"))


def _denied() -> wc.Variant:
    return wc.Variant("err", "denied")


def _log(_store: Any, level: int, message: str) -> str | None:
    host = current_host()
    if host is None:
        return "denied"
    result = host.log.write(level, message.encode("utf-8", "replace"))
    return None if result.ok else result.code.label


def _http_fetch(_store: Any, request: str) -> wc.Variant:
    host = current_host()
    if host is None:
        return _denied()
    return _bytes(host.http.fetch(request.encode("latin-1", "replace"), HOST_RESULT_CAP))


def _storage_read(_store: Any, bucket: str, key: str) -> wc.Variant:
    host = current_host()
    return _denied() if host is None else _bytes(host.storage.read(bucket, key, HOST_RESULT_CAP))


def _storage_write(_store: Any, bucket: str, key: str, data: str) -> int | str:
    host = current_host()
    if host is None:
        return "denied"
    result = host.storage.write(bucket, key, data.encode("latin-1", "replace"))
    return result.value if result.ok else result.code.label


def _storage_list(_store: Any, bucket: str, prefix: str) -> wc.Variant:
    host = current_host()
    return _denied() if host is None else _text(host.storage.list(bucket, prefix, HOST_RESULT_CAP))


def _db(action: str) -> Callable[..., wc.Variant]:
    def call(_store: Any, schema: str, sql: str, params: str) -> wc.Variant:
        host = current_host()
        if host is None:
            return _denied()
        run = host.database.query if action == "query" else host.database.execute
        return _text(run(schema, sql.encode(), params.encode(), HOST_RESULT_CAP))

    return call


def _functions() -> Iterator[tuple[str, Callable[..., Any], Any]]:
    """Each host function, with its `quota` answer (`log` and `storage-write` answer a bare
    error code, the others a tagged `err`)."""
    quota = wc.Variant("err", "quota")
    yield "log", _log, "quota"
    yield "http-fetch", _http_fetch, quota
    yield "storage-read", _storage_read, quota
    yield "storage-write", _storage_write, "quota"
    yield "storage-list", _storage_list, quota
    yield "db-query", _db("query"), quota
    yield "db-execute", _db("execute"), quota


def define_component_host(linker: wc.Linker) -> None:
    """WASI 0.2 (no preopens, env or network unless the store's WasiConfig grants them)
    and the platform's host interface on `linker`, each function counted against
    `limits.hostcalls` (hostcalls.py)."""
    linker.add_wasip2()
    with linker.root() as root, root.add_instance(HOST_INTERFACE) as host:
        for name, func, quota in _functions():
            host.add_func(name, counted(name, func, quota))
