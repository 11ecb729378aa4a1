"""What a Python module built with `sandbench build` imports: requests, responses, the host API.

    from sandbench_guest import Request, Response, log

    def handle(request: Request) -> Response:
        log("info", f"{request.method} {request.path}")
        return Response.json({"ok": True})

This file is bundled into the component (it runs inside the sandbox, on the component's own
Python); docs/components.md describes it. The host API functions raise `HostError` with the
code's name (`denied`, `not-found`, `quota`, ...) when a call fails.
"""

from __future__ import annotations

import contextlib
import json as _json
import os
import sys
from typing import Any

from componentize_py_types import Err
from wit_world.imports import host as _host

__all__ = [
    "HostError",
    "Request",
    "Response",
    "db_execute",
    "db_query",
    "http_fetch",
    "log",
    "storage_list",
    "storage_read",
    "storage_write",
]

_LEVELS = {"debug": 0, "info": 1, "warn": 2, "warning": 2, "error": 3}


class HostError(Exception):
    """A host API call failed; `code` is the reason (docs/abi.md, "Host API")."""

    def __init__(self, call: str, code: str) -> None:
        super().__init__(f"{call}: {code}")
        self.code = code


class Request:
    """An HTTP request. `headers` maps lower-case names to the last value sent."""

    __slots__ = ("body", "header_list", "headers", "method", "path", "query")

    def __init__(
        self,
        method: str = "GET",
        path: str = "/",
        query: str = "",
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.header_list = list(headers or [])
        self.headers = {name.lower(): value for name, value in self.header_list}
        self.body = body

    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not)."""
        return _json.loads(self.body)


class Response:
    """An HTTP response; `body` may be bytes or text (sent as UTF-8)."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self,
        status: int = 200,
        body: bytes | str = b"",
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
    ) -> None:
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        self.headers = [(name.lower(), value) for name, value in items]

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        """A JSON response."""
        body = _json.dumps(value, separators=(",", ":"))
        return cls(status, body, [("content-type", "application/json")])

    @classmethod
    def text(cls, value: str, status: int = 200) -> Response:
        """A plain-text response."""
        return cls(status, value, [("content-type", "text/plain; charset=utf-8")])


def _wire(data: bytes | str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return raw.decode("latin-1")


def _call(name: str, *args: Any) -> Any:
    try:
        return getattr(_host, name)(*args)
    except Err as failure:
        code = failure.value
        raise HostError(name, str(getattr(code, "name", code)).lower().replace("_", "-")) from None


def log(level: str, message: str) -> None:
    """Log a line (`debug`, `info`, `warn`, `error`); it lands in the report."""
    with contextlib.suppress(Err):  # past the per-call quota: dropped and counted by the host
        _host.log(_LEVELS.get(level, 1), message)


def http_fetch(
    method: str, url: str, headers: dict[str, str] | None = None, body: bytes | str = b""
) -> tuple[int, dict[str, str], bytes]:
    """Send an HTTP request through the platform (`api:external:HOST`): status, headers, body."""
    lines = [f"{method} {url}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    head = "\n".join(lines) + "\n\n"
    raw = _call("http_fetch", _wire(head.encode("utf-8") + _bytes(body))).encode("latin-1")
    top, _, payload = raw.partition(b"\n\n")
    status, answer = 0, {}
    for line in top.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.split()[0])
        else:
            answer[name.strip().lower()] = value.strip()
    return status, answer, payload


def _bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def storage_read(bucket: str, key: str) -> bytes:
    """The object `key` of a granted bucket."""
    return str(_call("storage_read", bucket, key)).encode("latin-1")


def storage_write(bucket: str, key: str, data: bytes | str) -> int:
    """Store `data` as `key` (needs `storage:write:BUCKET`); the number of bytes stored."""
    return int(_call("storage_write", bucket, key, _wire(data)))


def storage_list(bucket: str, prefix: str = "") -> list[str]:
    """The names in the folder `prefix` of a bucket; folders end in `/`."""
    return [line for line in str(_call("storage_list", bucket, prefix)).splitlines() if line]


def db_query(schema: str, sql: str, params: list[Any] | None = None) -> dict[str, Any]:
    """Run one statement that returns rows: `{"columns": [...], "rows": [[...]]}`."""
    args = _json.dumps(params) if params else ""
    result: dict[str, Any] = _json.loads(_call("db_query", schema, sql, args))
    return result


def db_execute(schema: str, sql: str, params: list[Any] | None = None) -> int:
    """Run one statement that changes rows (needs `database:write:SCHEMA`); the row count."""
    args = _json.dumps(params) if params else ""
    return int(_json.loads(_call("db_execute", schema, sql, args)).get("rowcount", 0))


class _LogStream:
    """`sys.stdout` and `sys.stderr` in the sandbox: complete lines go to the host log."""

    def __init__(self, level: int) -> None:
        self._level = level
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if len(self._pending) > 4096 or "\n" in self._pending:
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                with contextlib.suppress(Err):
                    _host.log(self._level, line)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            text, self._pending = self._pending, ""
            with contextlib.suppress(Err):
                _host.log(self._level, text)

    def isatty(self) -> bool:
        return False


def _install_streams() -> None:
    sys.stdout = _LogStream(1)  # type: ignore[assignment]
    sys.stderr = _LogStream(2)  # type: ignore[assignment]
    os.environ.clear()
