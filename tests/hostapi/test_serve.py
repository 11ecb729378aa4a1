"""The container binding: the host API over HTTP on a unix socket, with a real client."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest

from sandbench.hostapi import Code, HostApi, HostServer, HostSettings, HttpSettings
from sandbench.hostapi.serve import MAX_CONNECTIONS
from sandbench.manifests import Rate, parse_permission


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost")
        self._path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


@pytest.fixture
def served(tmp_path, loopback):
    docs, notes = tmp_path / "docs", tmp_path / "notes"
    docs.mkdir()
    notes.mkdir()
    (docs / "a.txt").write_bytes(b"from docs")
    permissions = [
        parse_permission(p)
        for p in (
            "storage:read:docs",
            "storage:write:notes",
            "database:write:vendas",
            "api:external:crm.example.com",
        )
    ]
    settings = HostSettings(
        http=HttpSettings(resolve={"crm.example.com": loopback}), database_dir=tmp_path
    )
    host = HostApi(
        permissions,
        storage_read={"docs": docs},
        storage_write={"notes": notes},
        storage_bytes=100,
        network=Rate(requests=10, period_s=60),
        settings=settings,
    )
    folder = Path(tempfile.mkdtemp(prefix="sb-sock-"))  # unix socket paths are short
    server = HostServer(host, folder / "host.sock")
    yield server, host
    server.close()
    host.close()
    folder.rmdir()


def request(server, method, path, body=b""):
    connection = UnixConnection(server.path)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, response.getheader("Sandbench-Error"), response.read()
    finally:
        connection.close()


def test_socket_is_private(served):
    server, _ = served
    assert stat.S_IMODE(server.path.stat().st_mode) == 0o600


def test_every_capability_answers_over_the_socket(served):
    server, host = served
    assert request(server, "GET", "/v1/storage/docs/a.txt") == (200, None, b"from docs")
    assert request(server, "PUT", "/v1/storage/notes/x/y.txt", b"hi")[0] == 204
    assert request(server, "GET", "/v1/storage/notes/x/") == (200, None, b"y.txt\n")
    assert request(server, "POST", "/v1/log?level=warn", b'{"msg": "hello"}')[0] == 204
    status, _, body = request(server, "POST", "/v1/http", b"GET http://crm.example.com/c\n\n")
    assert status == 200
    assert body.endswith(b"GET /c host=crm.example.com")
    sql = json.dumps({"sql": "SELECT ? AS n", "params": [7]}).encode()
    status, _, body = request(server, "POST", "/v1/db/vendas/query", sql)
    assert (status, json.loads(body)) == (200, {"columns": ["n"], "rows": [[7]]})
    activity = host.recorder.drain()
    assert [c.capability for c in activity.calls] == ["storage"] * 3 + ["http", "database"]
    assert activity.logs[0].level == "warn"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("PUT", "/v1/storage/docs/a.txt", b"x", 403, "denied"),
        ("GET", "/v1/storage/other/a.txt", b"", 403, "denied"),
        ("GET", "/v1/storage/docs/..%2Fnotes%2Fx", b"", 403, "denied"),
        ("GET", "/v1/storage/docs/nope.txt", b"", 404, "not-found"),
        ("PUT", "/v1/storage/notes/big.bin", b"x" * 200, 507, "quota"),
        ("POST", "/v1/http", b"GET http://evil.example.net/\n\n", 403, "denied"),
        ("POST", "/v1/db/rh/query", b'{"sql": "SELECT 1"}', 403, "denied"),
        ("POST", "/v1/db/vendas/query", b'{"sql": "ATTACH DATABASE \'x\' AS x"}', 403, "denied"),
        ("POST", "/v1/db/vendas/query", b"not json", 400, "bad-argument"),
        ("POST", "/v1/log?level=loud", b"x", 400, "bad-argument"),
        ("POST", "/v2/log", b"x", 404, "not-found"),
    ],
)
def test_refusals_carry_status_and_code(served, method, path, body, status, code):
    server, host = served
    assert request(server, method, path, body)[:2] == (status, code)
    if code == "denied":
        assert host.recorder.drain().denied


def test_oversized_body_is_refused_unread(served):
    server, _ = served
    connection = UnixConnection(server.path)
    try:
        connection.putrequest("PUT", "/v1/storage/notes/x")
        connection.putheader("Content-Length", str(10**9))
        connection.endheaders()
        response = connection.getresponse()
        assert (response.status, response.getheader("Sandbench-Error")) == (413, "too-large")
    finally:
        connection.close()


def test_close_removes_the_socket_and_is_idempotent(served):
    server, _ = served
    server.close()
    server.close()
    assert not server.path.exists()


def _hold(path: Path, count: int) -> list[socket.socket]:
    held = []
    for _ in range(count):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(path))  # blocking: returns once the server has accepted or queued it
        held.append(sock)
    return held


def _closed_by_server(socks: list[socket.socket]) -> int:
    closed = 0
    for sock in socks:
        sock.settimeout(5)
        with contextlib.suppress(TimeoutError):
            closed += sock.recv(1) == b""
    return closed


def test_connections_past_the_cap_get_no_thread_and_are_counted(served):
    server, _ = served
    before = threading.active_count()
    held = _hold(server.path, MAX_CONNECTIONS)
    # The cap's own connections are served (a thread each) ...
    deadline = time.monotonic() + 10
    while server.cap.open < MAX_CONNECTIONS and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.cap.open == MAX_CONNECTIONS
    extra = _hold(server.path, 200)
    try:
        # ... and every one past it is closed at once, without a thread.
        assert _closed_by_server(extra) == 200
        assert server.cap.refused == 200
        assert threading.active_count() - before <= MAX_CONNECTIONS
        # The capped connections still work.
        held[0].sendall(b"GET /v1/storage/docs/a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        held[0].settimeout(5)
        assert held[0].recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        for sock in held + extra:
            sock.close()


def test_a_trickled_request_is_cut_off(served, monkeypatch):
    from sandbench.hostapi import serve

    monkeypatch.setattr(serve, "REQUEST_S", 1.0)
    server, _ = served
    (sock,) = _hold(server.path, 1)
    with sock:
        sock.settimeout(0.2)
        ended = None
        start = time.monotonic()
        # One byte every 0.1 s: each read is quick, the request never completes.
        for byte in b"GET /v1/storage/docs/a.txt HTTP/1.1\r\nX-Slow: " + b"a" * 400:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(1) == b"":
                    ended = time.monotonic() - start
                    break
            except TimeoutError:
                continue
            except OSError:
                ended = time.monotonic() - start
                break
        assert ended is not None, "the server kept reading the trickle"


def test_admit_sees_each_capability_call_and_its_refusal_keeps_the_connection(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    host = HostApi(
        [parse_permission("storage:write:notes")],
        storage_read={},
        storage_write={"notes": notes},
        storage_bytes=1000,
        network=None,
        settings=HostSettings(database_dir=tmp_path),
    )
    seen: list[tuple[str, str]] = []

    def admit(capability: str, action: str):
        seen.append((capability, action))
        return Code.QUOTA if capability == "storage" and action == "write" else None

    folder = Path(tempfile.mkdtemp(prefix="sb-sock-"))
    server = HostServer(host, folder / "host.sock", admit=admit)
    connection = UnixConnection(server.path)
    answers = []
    try:
        for method, path, body in [
            ("PUT", "/v1/storage/notes/a.txt", b"refused, and read"),
            ("POST", "/v1/log?level=info", b"served"),
            ("GET", "/v1/storage/notes/", b""),
            ("GET", "/v1/nowhere", b""),  # not a capability call: admit never sees it
        ]:
            connection.request(method, path, body=body)  # one keep-alive connection
            response = connection.getresponse()
            answers.append((response.status, response.getheader("Sandbench-Error")))
            response.read()
    finally:
        connection.close()
        server.close()
        host.close()
        folder.rmdir()
    assert answers == [(507, "quota"), (204, None), (204, None), (404, "not-found")]  # empty list
    assert seen == [("storage", "write"), ("log", "log"), ("storage", "list")]
    assert not (notes / "a.txt").exists()
