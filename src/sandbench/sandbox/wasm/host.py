"""The host API as WASM imports: namespace `sandbench:host/v1` (docs/abi.md, "Host API").

Every function takes pointers and lengths into the caller's linear memory and returns an
i32: a byte count (or 0) on success, a negative `Code` on failure. Results are written into
a buffer the guest passes (`out_ptr`, `out_cap`); a result that does not fit is discarded
and the call returns `buffer-too-small` (or `too-large` where the capability's own cap
applies first). A pointer outside memory is a `bad-argument`, never a trap.

The functions are defined once on the backend's linker; which module's `HostApi` they
serve is per call state: the instance binds its `HostApi` around each call (`bound`),
on the thread that runs the wasm, so concurrent instances never see each other's grants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from ctypes import memmove, string_at

import wasmtime

from sandbench.hostapi import Code, HostApi, HostResult
from sandbench.hostapi.abi import CORE_NAMESPACE

from .hostcall import CallerMemory, HostCaller, caller_memory, define_i32_func

__all__ = ["FUNCTIONS", "NAMESPACE", "bound", "current_host", "define_host"]

NAMESPACE = CORE_NAMESPACE
_current: ContextVar[HostApi | None] = ContextVar("sandbench_host", default=None)


@contextmanager
def bound(host: HostApi | None) -> Iterator[None]:
    """Serve the host functions from `host` while the block runs (None: deny everything)."""
    token = _current.set(host)
    try:
        yield
    finally:
        _current.reset(token)


def current_host() -> HostApi | None:
    """The `HostApi` bound to this call, or None (deny everything)."""
    return _current.get()


class _Memory(CallerMemory):
    """Bounds-checked access to the caller's exported `memory` (hostcall.py finds it).

    The checks and copies are inline here rather than through `CallerMemory.read` and
    `write`: a storage call makes three of them, and each call level costs here.
    """

    __slots__ = ()

    def checked(self, ptr: int, length: int) -> bytes | None:
        """`length` bytes at `ptr`, or None when the range is outside memory."""
        ptr &= 0xFFFFFFFF  # i32 arrives signed; pointers are unsigned
        if length < 0 or ptr + length > self._size:
            return None
        return string_at(self._base + ptr, length)

    def text(self, ptr: int, length: int) -> str | None:
        """The UTF-8 text at `ptr`, or None when outside memory or not UTF-8."""
        ptr &= 0xFFFFFFFF
        if length < 0 or ptr + length > self._size:
            return None
        try:
            return string_at(self._base + ptr, length).decode()
        except UnicodeDecodeError:
            return None

    def answer(self, result: HostResult, ptr: int, cap: int) -> int:
        """Copy a successful result into the guest's buffer; the i32 the guest gets back."""
        data = result.data
        if result.code is not Code.OK:
            return int(result.code)
        if not data:
            return result.value
        ptr &= 0xFFFFFFFF
        if len(data) > cap:
            return int(Code.BUFFER_TOO_SMALL)
        if ptr + cap > self._size:  # cap >= len(data) >= 0
            return int(Code.BAD_ARGUMENT)
        memmove(self._base + ptr, data, len(data))
        return len(data)


# A module without an exported memory: every range is outside (no size is below 0).
_NO_MEMORY = _Memory(0, -1)


def _memory(caller: HostCaller) -> _Memory:
    """The caller's memory; its size is read once (the guest cannot grow it meanwhile)."""
    return caller_memory(caller, _Memory) or _NO_MEMORY


def _log(caller: HostCaller, level: int, ptr: int, length: int) -> int:
    host = _current.get()
    raw = _memory(caller).checked(ptr, length)
    if raw is None:
        return int(Code.BAD_ARGUMENT)
    if host is None:
        return int(Code.DENIED)
    return int(host.log.write(level, raw).code)


def _http_fetch(caller: HostCaller, ptr: int, length: int, out: int, cap: int) -> int:
    memory = _memory(caller)
    raw = memory.checked(ptr, length)
    host = _current.get()
    if raw is None or cap < 0:
        return int(Code.BAD_ARGUMENT)
    if host is None:
        return int(Code.DENIED)
    return memory.answer(host.http.fetch(raw, cap), out, cap)


def _storage(action: str) -> Callable[..., int]:
    def call(
        caller: HostCaller, b_ptr: int, b_len: int, k_ptr: int, k_len: int, x: int, y: int
    ) -> int:
        memory = _memory(caller)
        bucket, key = memory.text(b_ptr, b_len), memory.text(k_ptr, k_len)
        host = _current.get()
        if bucket is None or key is None:
            return int(Code.BAD_ARGUMENT)
        if host is None:
            return int(Code.DENIED)
        if action == "write":
            data = memory.checked(x, y)
            if data is None:
                return int(Code.BAD_ARGUMENT)
            return memory.answer(host.storage.write(bucket, key, data), 0, 0)
        if action == "read":
            return memory.answer(host.storage.read(bucket, key, max(y, 0)), x, y)
        return memory.answer(host.storage.list(bucket, key, max(y, 0)), x, y)

    return call


def _db(action: str) -> Callable[..., int]:
    def call(
        caller: HostCaller,
        s_ptr: int,
        s_len: int,
        q_ptr: int,
        q_len: int,
        p_ptr: int,
        p_len: int,
        out: int,
        cap: int,
    ) -> int:
        memory = _memory(caller)
        schema = memory.text(s_ptr, s_len)
        sql, params = memory.checked(q_ptr, q_len), memory.checked(p_ptr, p_len)
        host = _current.get()
        if schema is None or sql is None or params is None or cap < 0:
            return int(Code.BAD_ARGUMENT)
        if host is None:
            return int(Code.DENIED)
        run = host.database.query if action == "query" else host.database.execute
        return memory.answer(run(schema, sql, params, cap), out, cap)

    return call


FUNCTIONS: dict[str, tuple[int, Callable[..., int]]] = {
    "log": (3, _log),
    "http_fetch": (4, _http_fetch),
    "storage_read": (6, _storage("read")),
    "storage_write": (6, _storage("write")),
    "storage_list": (6, _storage("list")),
    "db_query": (8, _db("query")),
    "db_execute": (8, _db("execute")),
}


def define_host(linker: wasmtime.Linker) -> None:
    """Define every host function (all i32 parameters, one i32 result) on `linker`."""
    for name, (arity, func) in FUNCTIONS.items():
        define_i32_func(linker, NAMESPACE, name, arity, func)  # hostcall.py: no per-call Vals
