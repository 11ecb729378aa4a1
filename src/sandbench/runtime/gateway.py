"""The HTTP gateway behind `sandbench serve`: an ASGI app that routes `/{module}/...` to
sandboxed instances.

    GET /healthz            200 while the gateway runs; each module's state in the JSON body
    GET /metrics            Prometheus text format (see `sandbench.runtime.metrics`)
    ANY /{module}/{path}    the module answers `/{path}`

Each module has a pool of slots, each holding a live instance or nothing yet (a WASM
instance serves one call at a time, so concurrency comes from the pool). A request waits
(in the event loop, never in a worker thread) for a free slot of *its* module, so a module
that stalls or spins only queues its own requests. The call runs in a worker thread (the
GIL is released while wasm runs), or, for a module whose calls can be bounded and cut short
without loss, first on the event loop's thread, on an instance of its own, without taking a
slot (`runtime.inline`). What a module does wrong becomes that request's 5xx:

    timeout violation                  504
    any other violation                502  (trap, cpu, memory, output, protocol, exit, ...)
    no slot free within the timeout    503
    the module cannot be loaded        503  (reloaded at most once per `retry_s`)
    a host fault in the call           500  (the instance is dropped and reloaded)

Nothing a module does raises out of the app: the gateway and the other modules keep serving.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from time import perf_counter
from typing import TypeVar

from sandbench.manifests import ModulePackage
from sandbench.sandbox import (
    Closing,
    Grants,
    Instance,
    Outcome,
    Request,
    SandboxBackend,
    SandboxLimits,
)
from sandbench.sandbox.construct import made

from .asgi import (
    JSON_HEADERS,
    Headers,
    Receive,
    RequestHeaders,
    Scope,
    Send,
    decoded,
    encoded,
    error_answer,
    json_body,
    length_header,
    lifespan,
    reply,
    rest_of_body,
    violation_answer,
)
from .inline import Inline
from .metrics import CONTENT_TYPE, GatewayMetrics

__all__ = ["Gateway", "ModuleSpec"]

_K = TypeVar("_K")
_V = TypeVar("_V")

_METRICS_HEADERS: Headers = [(b"content-type", CONTENT_TYPE.encode())]
# Distinct header sets remembered per gateway, each way (a module answers with a few, a
# client sends a few).
_HEADER_CACHE = 64
# How long the event loop waits, blocking, for a call before awaiting it (see `_run`).
SYNC_WAIT_S = 0.001


@dataclass(frozen=True)
class ModuleSpec:
    """A module to serve: its route name, package, limits and grants."""

    route: str
    package: ModulePackage
    limits: SandboxLimits
    grants: Grants


class _Down(Exception):
    """The module has no instance and could not get one (the message says why)."""


class _Pool:
    """The slots of one module. Slots are taken and returned in the event loop only."""

    def __init__(self, spec: ModuleSpec, backend: SandboxBackend, size: int) -> None:
        self.spec = spec
        self.backend = backend
        self.slots: asyncio.Queue[Instance | None] = asyncio.Queue()
        self.live: list[Instance] = []
        self.inline = Inline.of(spec.package, spec.limits, backend)
        self.error = ""
        self.failed_at = -1e9
        for _ in range(size):
            self.slots.put_nowait(None)

    def fill(self) -> Instance:
        """Load one instance (in a worker thread); raise `_Down` when the module cannot load."""
        result = self.backend.load(self.spec.package, self.spec.limits, self.spec.grants)
        if result.instance is None:
            reason = result.violation.message if result.violation else "no instance"
            raise _Down(f"module {self.spec.route} cannot be loaded: {reason}")
        self.live.append(result.instance)
        return result.instance

    def drop(self, instance: Instance) -> None:
        """Close an instance that failed on the host side; its slot gets a new one."""
        if instance in self.live:
            self.live.remove(instance)
        instance.close()


class Gateway(Closing):
    """An ASGI application serving `modules`, `instances` live instances each.

    The caller owns `backend`; `close()` closes the instances and the worker threads.
    `max_body` caps request bodies (413 above it). Loading happens on `start()` (or on
    the first request of a module), never in the constructor. `identity` is added to the
    /healthz body (`sandbench serve --workers` says which worker answered).
    """

    def __init__(
        self,
        modules: Sequence[ModuleSpec],
        backend: SandboxBackend,
        *,
        instances: int = 4,
        max_body: int = 1 << 20,
        retry_s: float = 1.0,
        identity: dict[str, int] | None = None,
        sync_wait_s: float = SYNC_WAIT_S,
    ) -> None:
        routes = [m.route for m in modules]
        if len(set(routes)) != len(routes) or not routes:
            raise ValueError(f"module routes must be unique and non-empty: {routes}")
        self.metrics = GatewayMetrics()
        self.metrics.declare(routes)
        self._pools = {m.route: _Pool(m, backend, instances) for m in modules}
        self._executor = ThreadPoolExecutor(
            max_workers=instances * len(modules) + 1, thread_name_prefix="sandbench-gw"
        )
        self._max_body = max_body
        self._retry_s = retry_s
        self._sync_wait_s = sync_wait_s
        self._in_flight = 0  # calls submitted and not yet collected (event loop only)
        # Response header sets (and body lengths) encoded, request header sets decoded.
        self._headers: dict[tuple[tuple[tuple[str, str], ...], int], Headers] = {}
        self._request_sets: dict[tuple[tuple[bytes, bytes], ...], RequestHeaders] = {}
        self._closed = False
        self.identity = dict(identity or {})

    def live_instances(self) -> list[Instance]:
        """Every instance the gateway holds now (to sample their resources)."""
        found = [instance for pool in self._pools.values() for instance in pool.live]
        inline = [p.inline.instance for p in self._pools.values() if p.inline is not None]
        return found + [instance for instance in inline if instance is not None]

    def inline_calls(self, route: str) -> tuple[int, int]:
        """Calls of module `route` answered on the event loop's thread, and calls cut short
        there (then made on a worker thread); see `runtime.inline`."""
        inline = self._pools[route].inline
        return (inline.calls, inline.cut_short) if inline is not None else (0, 0)

    def start(self) -> dict[str, str]:
        """Load one instance of each module now; return each module's state ("ready" or why not)."""
        for pool in self._pools.values():
            slot = pool.slots.get_nowait()
            try:
                slot = pool.fill()
            except _Down as exc:
                self._failed(pool, str(exc))
            finally:
                pool.slots.put_nowait(slot)
            if pool.inline is not None and not pool.error:
                pool.inline.load(pool.backend, pool.spec.package, pool.spec.grants)
        return self.states()

    def states(self) -> dict[str, str]:
        """Each module's state: "ready", or the reason it is down."""
        return {r: p.error or "ready" for r, p in self._pools.items()}

    def close(self) -> None:
        """Close every instance and stop the worker threads. Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        for pool in self._pools.values():
            for instance in pool.live:
                instance.close()
            pool.live.clear()
            if pool.inline is not None:
                pool.inline.close()

    def _failed(self, pool: _Pool, reason: str) -> None:
        pool.error = reason
        pool.failed_at = time.monotonic()
        self.metrics.load_failed(pool.spec.route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point.

        A module's request is answered in this one frame where it can be (an inline call,
        the common case): each frame and allocation on this path costs about four times
        more under load than in a loop (cold caches), so helpers run only off it.
        """
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await lifespan(receive, send)
            return
        started = perf_counter()
        path: str = scope["path"]
        route, _, rest = path.lstrip("/").partition("/")
        pool = self._pools.get(route)
        if pool is None or path == "/healthz" or path == "/metrics":
            await self._other(path, route, send, started)
            return
        fields, framed = self._request_headers(scope["headers"])
        body: bytes | None = b""
        # HTTP/1 has a request body only where a header frames one: without one, there is
        # nothing to receive (and `receive` is, with its awaits, a few frames of uvicorn's).
        if framed or scope.get("http_version") == "2":
            message = await receive()
            first: bytes = message.get("body", b"")
            body = first
            if message.get("more_body", False) and message["type"] != "http.disconnect":
                body = await rest_of_body(receive, first, self._max_body)
        if body is None or len(body) > self._max_body:
            status, headers, body = error_answer(413, f"request body above {self._max_body} bytes")
            await reply(send, status, headers, body)
            self.metrics.answered(route, status, perf_counter() - started, None)
            return
        # Made without validation: every field comes typed from the ASGI server.
        request = made(Request, {
            "method": scope["method"], "path": "/" + rest,
            "query": scope.get("query_string", b"").decode("latin-1"),
            "headers": fields, "body": body,
        })  # fmt: skip
        outcome: Outcome | None = None
        inline = pool.inline
        if inline is not None:  # on an instance of its own: no slot to take or wait for
            outcome, spent_ms = inline.call(request)
            if spent_ms:
                self.metrics.spent(route, spent_ms)
        if outcome is not None:
            status, headers, body = self._response(outcome)
        else:
            status, headers, body, outcome = await self._pooled(pool, request)
        # `reply`, written out: the common case's two sends without a frame of their own.
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.metrics.answered(route, status, perf_counter() - started, outcome)

    async def _other(self, path: str, route: str, send: Send, started: float) -> None:
        """Answer what is not a module's request: /healthz, /metrics, an unknown route."""
        if path == "/healthz":
            body = json_body({"status": "ok", "modules": self.states(), **self.identity})
            await reply(send, 200, [*JSON_HEADERS, length_header(body)], body)
        elif path == "/metrics":
            body = self.metrics.exposition()
            await reply(send, 200, [*_METRICS_HEADERS, length_header(body)], body)
        else:
            status, headers, body = error_answer(404, f"no module is served at /{route}")
            await reply(send, status, headers, body)
            self.metrics.answered("", status, perf_counter() - started, None)

    def _request_headers(self, raw: Iterable[tuple[bytes, bytes]]) -> RequestHeaders:
        """The request's headers as a module gets them: text, names in lower case (the ASGI
        spec leaves lowering to the server, and says it may keep the client's case); and
        whether one of them frames a body (content-length, transfer-encoding).

        A client sends the same headers request after request, so each distinct set is
        decoded once and remembered (a bounded cache, like the response headers'): the
        lookup hashes the raw bytes, where decoding makes two strings and a pair a header.
        """
        try:
            key = tuple(raw)
            cached = self._request_sets.get(key)
        except TypeError:  # headers as lists (a server other than uvicorn): not hashable
            return decoded(raw)
        if cached is None:  # clients varying their headers empty the cache now and then
            cached = _remembered(self._request_sets, key, decoded(key))
        return cached

    async def _pooled(
        self, pool: _Pool, request: Request
    ) -> tuple[int, Headers, bytes, Outcome | None]:
        """Answer `request` on an instance of the pool, waiting for a free slot at most the
        module's timeout (503 after it); the outcome, when the module made one."""
        try:
            slot = pool.slots.get_nowait()  # the common case, without wait_for's task
        except asyncio.QueueEmpty:
            try:
                slot = await asyncio.wait_for(pool.slots.get(), pool.spec.limits.timeout_ms / 1000)
            except TimeoutError:
                return (
                    *error_answer(503, f"module {pool.spec.route} busy: no instance free"),
                    None,
                )
        status, headers, payload, slot, outcome = await self._call(pool, slot, request)
        pool.slots.put_nowait(slot)
        return status, headers, payload, outcome

    async def _call(
        self, pool: _Pool, slot: Instance | None, request: Request
    ) -> tuple[int, Headers, bytes, Instance | None, Outcome | None]:
        """Run `request` on `slot` (loading it first if empty); return the answer, the slot
        to put back and the outcome (None when there was none). Never raises for what the
        module did or for a host fault."""
        if slot is None:
            slot = await self._load(pool)
            if slot is None:
                return (*error_answer(503, pool.error), None, None)
        try:
            outcome = await self._run(slot.invoke, request)
        except Exception as exc:  # a host fault: drop this instance, keep serving
            pool.drop(slot)
            return (
                *error_answer(500, f"host fault in module {pool.spec.route}: {exc}"),
                None,
                None,
            )
        return (*self._response(outcome), slot, outcome)

    async def _load(self, pool: _Pool) -> Instance | None:
        """A new instance for an empty slot, or None (`pool.error` says why)."""
        if time.monotonic() - pool.failed_at < self._retry_s:
            return None
        try:
            slot = await asyncio.wrap_future(self._executor.submit(pool.fill))
        except _Down as exc:
            self._failed(pool, str(exc))
            return None
        except Exception as exc:  # a host fault while loading
            self._failed(pool, f"module {pool.spec.route} cannot be loaded: {exc}")
            return None
        pool.error = ""
        return slot

    async def _run(self, invoke: Callable[[Request], Outcome], request: Request) -> Outcome:
        """`invoke(request)` on a worker thread, never in the event loop's thread (a module
        that spins must not stop the other modules' requests).

        When no other call is in progress, the loop first waits for it blocking, for at
        most `sync_wait_s`: a short call is back well within that, and collecting it
        directly saves the asyncio round trip (the loop's self-pipe wake-up and the future
        chaining: 30 µs of the 110 µs a reactor hello took in the gateway, measured
        in-process). A longer call is then awaited as usual, so the loop is held up for at
        most `sync_wait_s` whatever the module does; with other calls in progress it never
        blocks (their requests keep being read and answered meanwhile).
        """
        future = self._executor.submit(invoke, request)
        self._in_flight += 1
        try:
            if self._in_flight == 1:
                try:
                    return future.result(timeout=self._sync_wait_s)
                except FutureTimeout:
                    pass
            return await asyncio.wrap_future(future)
        finally:
            self._in_flight -= 1

    def _response(self, outcome: Outcome) -> tuple[int, Headers, bytes]:
        """The status, ASGI headers (content-length included) and body of an outcome."""
        response = outcome.response
        if outcome.violation is not None or response is None:
            return violation_answer(outcome)
        body = response.body
        key = (response.headers, len(body))
        headers = self._headers.get(key)
        if headers is None:  # a module varying its headers empties the cache now and then
            headers = _remembered(self._headers, key, encoded(response.headers, len(body)))
        return response.status, headers, body


def _remembered(cache: dict[_K, _V], key: _K, value: _V) -> _V:
    """`value`, now in `cache` under `key`; a cache of `_HEADER_CACHE` entries is emptied
    first (the header sets a gateway sees are few: one that keeps varying only costs
    decoding or encoding again)."""
    if len(cache) >= _HEADER_CACHE:
        cache.clear()
    cache[key] = value
    return value
