"""Parts of the container backend that need no engine: cgroup files, apt sources, the proxy,
the CLI's answer when no engine runs; and `sandbench images build` on a real one."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from sandbench.cli import cli
from sandbench.errors import ManifestError, SandboxError
from sandbench.hostapi.serve import MAX_CONNECTIONS
from sandbench.manifests import ContainerRuntime, Rate, json_schema, load, parse_manifest
from sandbench.sandbox.container import (
    PYTHON_IMAGE,
    AllowList,
    CgroupCounters,
    CgroupReader,
    EgressProxy,
    apt_source,
    egress,
)
from tests.conftest import EXAMPLES, problems


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v1_counters(tmp_path):
    membership = "12:memory:/docker/abc\n11:cpu:/docker/abc\n10:cpuacct:/docker/abc\n9:pids:/docker/abc\n0::/\n"
    write(tmp_path / "memory/docker/abc/memory.max_usage_in_bytes", "5242880\n")
    write(tmp_path / "memory/docker/abc/memory.usage_in_bytes", "4194304\n")
    write(tmp_path / "memory/docker/abc/memory.oom_control", "oom_kill_disable 0\noom_kill 2\n")
    write(tmp_path / "cpuacct/docker/abc/cpuacct.usage", "123456789\n")
    write(
        tmp_path / "cpu/docker/abc/cpu.stat",
        "nr_periods 10\nnr_throttled 4\nthrottled_time 90000000\n",
    )
    write(tmp_path / "pids/docker/abc/pids.events", "max 3\n")
    reader = CgroupReader(membership, tmp_path)
    assert reader.version == 1
    assert reader.read() == CgroupCounters(
        memory_peak=5242880,
        cpu_ns=123456789,
        throttled_periods=4,
        throttled_ns=90_000_000,
        pids_max_events=3,
        oom_kills=2,
        memory_current=4194304,
    )


def test_cgroup_v2_counters_and_last_value_when_gone(tmp_path):
    base = tmp_path / "system.slice/docker-abc.scope"
    write(base / "memory.peak", "7340032\n")
    write(base / "memory.current", "6291456\n")
    write(base / "memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n")
    write(
        base / "cpu.stat",
        "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 7\n"
        "nr_throttled 2\nthrottled_usec 1500\n",
    )
    write(base / "pids.events", "max 0\n")
    reader = CgroupReader("0::/system.slice/docker-abc.scope\n", tmp_path)
    assert reader.version == 2
    first = reader.read()
    assert first == CgroupCounters(
        memory_peak=7340032,
        cpu_ns=2_500_000,
        throttled_periods=2,
        throttled_ns=1_500_000,
        pids_max_events=0,
        oom_kills=1,
        memory_current=6291456,
    )
    (base / "memory.peak").unlink()
    write(base / "memory.current", "1024\n")
    assert reader.read().memory_peak == 1024  # kernels before 5.19 have no memory.peak
    for path in base.iterdir():
        path.unlink()
    last = {**first.__dict__, "memory_peak": 1024, "memory_current": 1024}
    assert reader.read() == CgroupCounters(**last)


def test_cgroup_v2_under_a_hybrid_unified_mount(tmp_path):
    write(tmp_path / "unified/docker/abc/cpu.stat", "usage_usec 10\n")
    reader = CgroupReader("0::/docker/abc\n", tmp_path)
    assert reader.read().cpu_ns == 10_000


def test_apt_source_from_deb822_and_one_line_files(tmp_path):
    write(
        tmp_path / "sources.list.d/debian.sources",
        "Types: deb\nURIs: http://mirror.test/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://security.test/debian-security\n"
        "Suites: bookworm-security\n",
    )
    assert apt_source(tmp_path) == "http://mirror.test/debian"
    other = tmp_path / "other"
    write(
        other / "sources.list", "# comment\ndeb [arch=amd64] http://old.test/debian bookworm main\n"
    )
    (other / "sources.list.d").mkdir()
    assert apt_source(other) == "http://old.test/debian"
    empty = tmp_path / "empty"
    (empty / "sources.list.d").mkdir(parents=True)
    with pytest.raises(SandboxError, match="--mirror"):
        apt_source(empty)


@pytest.mark.parametrize(
    ("target", "host", "port", "allowed"),
    [
        ("crm.example.com", "crm.example.com", 443, True),
        ("crm.example.com", "CRM.Example.com.", 80, True),
        ("crm.example.com", "crm.example.com", 8443, False),
        ("crm.example.com:8443", "crm.example.com", 8443, True),
        ("crm.example.com:8443", "crm.example.com", 443, False),
        ("*.example.com", "api.example.com", 443, True),
        ("*.example.com", "example.com", 443, False),
        ("*.example.com", "evil-example.com", 443, False),
        ("crm.example.com", "crm.example.com.evil.test", 443, False),
    ],
)
def test_allow_list(target, host, port, allowed):
    assert AllowList([target]).allows(host, port) is allowed


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: ClassVar[list[str]] = []

    def do_GET(self):
        _Hello.hits.append(self.path)
        body = f"hello {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def hello() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def through(proxy_port: int, head: str) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=5) as sock:
        sock.sendall(head.encode())
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        return data


def test_proxy_forwards_allowed_denies_others_and_counts_the_rate(hello):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    allow = AllowList([f"hello.test:{hello}"])
    # hello listens on loopback: only a pinned name reaches it (as `--resolve` pins it).
    pins = {"hello.test": f"127.0.0.1:{hello}"}
    with EgressProxy(listener, allow, Rate(requests=2, period_s=60), pins) as proxy:
        ok = through(port, f"GET http://hello.test:{hello}/a HTTP/1.1\r\nHost: x\r\n\r\n")
        host = through(port, "GET http://other.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n")
        tunnel = through(
            port,
            f"CONNECT hello.test:{hello} HTTP/1.1\r\n\r\n"
            "GET /t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        rate = through(port, f"GET http://hello.test:{hello}/b HTTP/1.1\r\n\r\n")
        bad = through(port, "GET /relative HTTP/1.1\r\n\r\n")
        denials = proxy.denials
    assert ok.startswith(b"HTTP/1.1 200")
    assert ok.endswith(b"hello /a")
    assert host.startswith(b"HTTP/1.1 403")
    assert tunnel.startswith(b"HTTP/1.1 200 Connection Established")
    assert tunnel.endswith(b"hello /t")
    assert rate.startswith(b"HTTP/1.1 429")
    assert bad.startswith(b"HTTP/1.1 400")
    assert [(d.host, d.port, d.reason) for d in denials] == [
        ("other.test", 80, "host"),
        ("hello.test", hello, "rate"),
    ]


def test_proxy_refuses_the_host_machine_unless_pinned(hello):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    hosts = ["127.0.0.1", "localhost", "127.1", "2130706433", "0x7f000001", "[::ffff:127.0.0.1]"]
    allow = AllowList([f"*:{hello}"])
    _Hello.hits = []
    with EgressProxy(listener, allow, Rate(requests=100, period_s=1)) as proxy:
        answers = [through(port, f"GET http://{h}:{hello}/leak HTTP/1.1\r\n\r\n") for h in hosts]
        tunnel = through(port, f"CONNECT localhost:{hello} HTTP/1.1\r\n\r\n")
        denials = proxy.denials
    assert all(a.startswith(b"HTTP/1.1 403") for a in answers), answers
    assert tunnel.startswith(b"HTTP/1.1 403")
    assert [d.reason for d in denials] == ["address"] * (len(hosts) + 1)
    assert _Hello.hits == []  # the loopback server was never reached


def test_proxy_caps_its_connections(hello):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    before = threading.active_count()
    with EgressProxy(listener, AllowList(["example.com"]), None) as proxy:
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(MAX_CONNECTIONS)]
        extra = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
        try:
            for sock in extra:
                sock.settimeout(5)
                assert sock.recv(1) == b""  # closed at once
            assert proxy.cap.refused == 100
            assert threading.active_count() - before <= MAX_CONNECTIONS + 1
        finally:
            for sock in held + extra:
                sock.close()


def test_proxy_drops_a_head_that_trickles(monkeypatch):
    monkeypatch.setattr(egress, "_HEAD_S", 0.5)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    with (
        EgressProxy(listener, AllowList(["example.com"]), None),
        socket.create_connection(("127.0.0.1", port)) as sock,
    ):
        sock.settimeout(0.1)
        ended = False
        for byte in b"GET http://example.com/ HTTP/1.1\r\nX-Slow: " + b"a" * 200:
            try:
                sock.sendall(bytes([byte]))
                ended = sock.recv(1) == b""
            except TimeoutError:
                continue
            except OSError:
                ended = True
            if ended:
                break
        assert ended, "the proxy kept reading the trickle"


def test_proxy_without_a_network_rate_lets_nothing_out(hello):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    with EgressProxy(listener, AllowList([f"127.0.0.1:{hello}"]), None) as proxy:
        refused = through(port, f"GET http://127.0.0.1:{hello}/a HTTP/1.1\r\n\r\n")
        denials = proxy.denials
    assert refused.startswith(b"HTTP/1.1 429")  # `network: none`, as for the WASM host API
    assert [(d.host, d.reason) for d in denials] == [("127.0.0.1", "rate")]


def test_check_without_an_engine_exits_3_with_one_line_and_a_hint(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = CliRunner().invoke(cli, ["check", str(EXAMPLES / "python-http")])
    assert result.exit_code == 3
    lines = problems(result.output.strip())  # without the progress lines
    assert len(lines) == 2
    assert lines[0].startswith("sandbench: error: container backend unavailable: no Docker Engine")
    assert lines[1].startswith("hint: start a Docker Engine")


@pytest.mark.docker
def test_images_build_is_idempotent():
    from sandbench.errors import BackendUnavailable
    from sandbench.sandbox.container import connect

    try:
        connect().close()
    except BackendUnavailable as exc:
        pytest.skip(f"no Docker Engine: {exc}")
    runner = CliRunner()
    first = runner.invoke(cli, ["images", "build", "python"])
    again = runner.invoke(cli, ["images", "build", "python"])
    assert first.exit_code == again.exit_code == 0, first.output
    assert again.output.splitlines()[-1] == PYTHON_IMAGE
    assert "is up to date" in again.output


def container_manifest(**runtime: object) -> dict:
    return {
        "name": "@tests/container",
        "version": "1.0.0",
        "runtime": {"kind": "container", **runtime},
    }


def manifest_problems(raw: dict) -> list[str]:
    with pytest.raises(ManifestError) as info:
        parse_manifest(json.dumps(raw))
    return info.value.problems


def test_container_runtime_defaults():
    runtime = parse_manifest(json.dumps(container_manifest(image="sandbench/python:bookworm")))
    assert runtime.runtime == ContainerRuntime(kind="container", image="sandbench/python:bookworm")
    assert runtime.runtime.port == 8080
    assert runtime.runtime.command is None


@pytest.mark.parametrize(
    ("runtime", "line"),
    [
        (
            {},
            'runtime: {"kind": "container"} is invalid: expected exactly one of image '
            "(a reference) and build (a folder)",
        ),
        (
            {"image": "a:b", "build": "."},
            'runtime: {"kind": "container", "image": "a:b", "build": "."} is invalid: '
            "expected exactly one of image (a reference) and build (a folder)",
        ),
        (
            {"image": "Bad Image"},
            'runtime.image: "Bad Image" is invalid: expected an image reference such as '
            "sandbench/python:bookworm or python:3.12-slim",
        ),
        (
            {"image": "a", "port": 0},
            "runtime.port: 0 is invalid: expected greater than or equal to 1",
        ),
        (
            {"build": "../elsewhere"},
            'runtime.build: "../elsewhere" is invalid: expected a folder inside the module '
            "holding a Dockerfile, e.g. . or image",
        ),
        (
            {"image": "a", "command": []},
            "runtime.command: [] is invalid: expected 1 to 256 strings, "
            'e.g. ["python3", "/module/server.py"]',
        ),
        (
            {"image": "a", "entry": "x.wasm"},
            "runtime.entry: unexpected field; remove it or check its spelling",
        ),
    ],
)
def test_container_runtime_problems_name_the_field(runtime, line):
    assert manifest_problems(container_manifest(**runtime)) == [line]


def test_build_needs_a_dockerfile_inside_the_module(tmp_path):
    root = tmp_path / "module"
    root.mkdir()
    (root / "module.json").write_text(json.dumps(container_manifest(build="image")))
    with pytest.raises(ManifestError) as info:
        load(root)
    assert info.value.problems == [f'runtime.build: "image" has no Dockerfile in {root}; add one']
    (root / "image").mkdir()
    (root / "image" / "Dockerfile").write_text("FROM sandbench/python:bookworm\n")
    assert load(root).entry_path == root / "image"


def test_schema_offers_both_runtimes():
    schema = json_schema()
    text = json.dumps(schema)
    assert '"container"' in text
    assert '"wasm"' in text


def test_every_test_the_security_section_names_exists():
    """docs/containers.md "Security" names its proofs as `file::test` (later `::test` in
    the same cell means the same file); each must be a test function in that file."""
    root = EXAMPLES.parent.parent
    text = (root / "docs" / "containers.md").read_text()
    section = text.split("## Security", 1)[1].split("\n## ", 1)[0]
    named = []
    for row in section.splitlines():
        current = None
        for file, name in re.findall(r"`(tests/[\w/]+\.py)?::(\w+)(?:\[[^\]]*\])?`", row):
            current = file or current
            assert current is not None, f"`::{name}` without a file before it: {row[:80]}"
            named.append((current, name))
    assert len(named) >= 10
    for file, name in named:
        source = (root / file).read_text()
        assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"{file}::{name} is gone"


def test_proxy_asks_the_resolver_once_and_keeps_its_answer(hello, monkeypatch):
    """A name whose DNS answer is private is refused on that answer: the proxy never asks
    again, so a later, different answer (rebinding) has nothing to act on."""
    answers = [
        [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", hello))],
        [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", hello))],
    ]
    asked = []
    real = socket.getaddrinfo

    def resolver(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        return answers[min(len(asked), len(answers)) - 1]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    _Hello.hits = []
    allow = AllowList([f"rebind.test:{hello}"])
    with EgressProxy(listener, allow, Rate(requests=10, period_s=1)) as proxy:
        answer = through(port, f"GET http://rebind.test:{hello}/leak HTTP/1.1\r\n\r\n")
        denials = proxy.denials
    assert answer.startswith(b"HTTP/1.1 403")
    assert [(d.host, d.reason) for d in denials] == [("rebind.test", "address")]
    assert asked == ["rebind.test"]
    assert _Hello.hits == []
