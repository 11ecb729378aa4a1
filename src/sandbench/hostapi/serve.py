"""The host API over HTTP on a unix socket: the binding for containers (docs/hostapi.md).

`HostServer(host, path)` serves one module instance's `HostApi` on a unix socket that the
container backend bind-mounts into the container; the container needs no network. Each
request maps to one capability call and answers with the result, or with the status for
its error code and a `Sandbench-Error` header naming it. Requests are bounded: a body over
`MAX_BODY` is refused before it is read.

Connections are bounded too, since the module on the other side may be hostile: at most
`MAX_CONNECTIONS` at once (one thread each); past that a connection is closed as soon as
it is accepted, and counted in `HostServer.cap.refused` (the container instance turns a
rise into a violation). A connection idle for `IDLE_S` is closed, and so is one whose
request (head and body) takes longer than `REQUEST_S` to arrive, however it trickles.

`admit(capability, action)`, when given, sees every capability call once its body is read:
returning a `Code` refuses it with that code instead of serving it (a per-call limit on
host calls, say).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .api import HostApi
from .codes import Code, HostResult
from .log import LEVELS

__all__ = [
    "IDLE_S",
    "MAX_BODY",
    "MAX_CONNECTIONS",
    "REQUEST_S",
    "STATUS",
    "ConnectionCap",
    "HostServer",
]

MAX_BODY = 2 * 1024 * 1024
MAX_CONNECTIONS = 32
IDLE_S = 10.0
REQUEST_S = 30.0
RESULT_CAP = 1024 * 1024
STATUS = {
    Code.DENIED: 403,
    Code.NOT_FOUND: 404,
    Code.QUOTA: 507,
    Code.RATE: 429,
    Code.TOO_LARGE: 413,
    Code.BAD_ARGUMENT: 400,
    Code.FAILED: 502,
    Code.BUFFER_TOO_SMALL: 413,
    Code.TIMEOUT: 504,
}


class ConnectionCap:
    """At most `limit` connections at once; counts those refused past it. Thread-safe."""

    def __init__(self, name: str, limit: int = MAX_CONNECTIONS) -> None:
        self.name = name
        self.limit = limit
        self.open = 0
        self.refused = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Count one more open connection; False (and one more refusal) at the limit."""
        with self._lock:
            if self.open >= self.limit:
                self.refused += 1
                return False
            self.open += 1
            return True

    def give(self) -> None:
        """One connection fewer."""
        with self._lock:
            self.open -= 1


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    host: HostApi
    cap: ConnectionCap
    admit: Callable[[str, str], Code | None] | None = None

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.cap.take():
            self.shutdown_request(request)  # no thread for a connection past the cap
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.cap.give()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.cap.give()


class _Reader(io.RawIOBase):
    """Reads from `sock`, each read bounded by `IDLE_S` and all by `deadline`."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline = time.monotonic() + REQUEST_S

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took too long to arrive")
        self._sock.settimeout(min(IDLE_S, left))
        return self._sock.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = IDLE_S

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the plain reader: replaced by one bounded in time
        self._reader = _Reader(self.connection)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        # Each request (waiting for it included) gets REQUEST_S; a trickle cannot hold on.
        self._reader.deadline = time.monotonic() + REQUEST_S
        super().handle_one_request()

    def do_GET(self) -> None:
        parts = self._parts()
        if len(parts) >= 2 and parts[0] == "storage":
            bucket, key = parts[1], "/".join(parts[2:])
            storage = self.server.host.storage
            listing = self.path.endswith("/")
            if self._refused("storage", "list" if listing else "read"):
                return
            if listing:
                self._send(storage.list(bucket, key.rstrip("/"), RESULT_CAP))
            else:
                self._send(storage.read(bucket, key, RESULT_CAP))
        else:
            self._send(HostResult(Code.NOT_FOUND))

    def do_PUT(self) -> None:
        parts = self._parts()
        body = self._body()
        if body is None:
            return
        if len(parts) >= 3 and parts[0] == "storage":
            if self._refused("storage", "write"):
                return
            self._send(self.server.host.storage.write(parts[1], "/".join(parts[2:]), body))
        else:
            self._send(HostResult(Code.NOT_FOUND))

    def do_POST(self) -> None:
        parts, query = self._parts(), parse_qs(urlsplit(self.path).query)
        body = self._body()
        if body is None:
            return
        host = self.server.host
        if parts == ["log"]:
            level = query.get("level", ["info"])[0]
            index = LEVELS.index(level) if level in LEVELS else -1
            if not self._refused("log", "log"):
                self._send(host.log.write(index, body))
        elif parts == ["http"]:
            if not self._refused("http", "fetch"):
                self._send(host.http.fetch(body, RESULT_CAP))
        elif len(parts) == 3 and parts[0] == "db" and parts[2] in ("query", "execute"):
            if not self._refused("database", parts[2]):
                self._send(self._db(parts[1], parts[2], body))
        else:
            self._send(HostResult(Code.NOT_FOUND))

    def _db(self, schema: str, action: str, body: bytes) -> HostResult:
        try:
            request = json.loads(body)
            sql = request["sql"].encode()
            params = json.dumps(request.get("params", [])).encode()
        except (ValueError, KeyError, TypeError, AttributeError):
            return HostResult(Code.BAD_ARGUMENT)
        database = self.server.host.database
        run = database.query if action == "query" else database.execute
        return run(schema, sql, params, RESULT_CAP)

    def _refused(self, capability: str, action: str) -> bool:
        """Answer the request with `admit`'s code when it refuses it (True: answered)."""
        admit = self.server.admit
        code = admit(capability, action) if admit is not None else None
        if code is None:
            return False
        self._send(HostResult(code))
        return True

    def _parts(self) -> list[str]:
        path = urlsplit(self.path).path
        if not path.startswith("/v1/"):
            return []
        # Decode after splitting: an encoded "/" stays inside its segment, and the
        # capability refuses it as it refuses any other odd key.
        return [unquote(p) for p in path[len("/v1/") :].split("/") if p != ""]

    def _body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._send(HostResult(Code.TOO_LARGE if length > 0 else Code.BAD_ARGUMENT))
            self.close_connection = True
            return None
        return self.rfile.read(length)

    def _send(self, result: HostResult) -> None:
        # A client that hung up (a container stopped mid-call) gets nothing; no traceback.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._answer(result)

    def _answer(self, result: HostResult) -> None:
        if result.ok:
            self.send_response(200 if result.data else 204)
            self.send_header("Content-Length", str(len(result.data)))
            self.end_headers()
            if result.data:
                self.wfile.write(result.data)
            return
        text = f"{result.code.label}\n".encode()
        self.send_response(STATUS[result.code])
        self.send_header("Sandbench-Error", result.code.label)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the Recorder is the log


class HostServer:
    """Serve `host` on the unix socket `path` (mode 0600) until closed; closing twice is harmless.

    `cap` bounds its connections (a new `ConnectionCap` when None; servers that share one
    share the bound, e.g. all the instances of one module). `admit` may refuse a request
    (see the module docstring); it runs on the server's threads.
    """

    def __init__(
        self,
        host: HostApi,
        path: Path,
        cap: ConnectionCap | None = None,
        admit: Callable[[str, str], Code | None] | None = None,
    ) -> None:
        self.path = path
        self._server = _Server(str(path), _Handler)
        self._server.host = host
        self._server.admit = admit
        self._server.cap = self.cap = cap or ConnectionCap("the host API")
        os.chmod(path, 0o600)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandbench-host-api",
            daemon=True,
        )
        self._thread.start()
        self._closed = False

    def close(self) -> None:
        """Stop serving and remove the socket."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> HostServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
