"""The container backend on a real Docker Engine: hardening, limits, hostile modules, cleanup."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from sandbench.hostapi import HostSettings, HttpSettings
from sandbench.manifests import load
from sandbench.runtime import Workspace, limits_for
from sandbench.sandbox import Grants, LoadResult, Request, SandboxLimits, ViolationKind
from sandbench.sandbox.container import (
    LABEL,
    PIDS_LIMIT,
    PYTHON_IMAGE,
    ContainerBackend,
    ContainerInstance,
)
from tests.conftest import EXAMPLES
from tests.sandbox.conftest import backend_leftovers

pytestmark = pytest.mark.docker

# A container module for the tests: a stdlib HTTP server whose GET / runs one snippet.
SERVER = """
import json, os, socket, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer


def action(handler):
{body}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        result = action(self)
        data = json.dumps(result).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def write_module(
    root: Path,
    body: str,
    *,
    limits: dict[str, Any] | None = None,
    permissions: list[str] | None = None,
    runtime: dict[str, Any] | None = None,
) -> Path:
    """A container module at `root` whose GET / returns `action(handler)` as JSON."""
    root.mkdir(parents=True)
    indented = "\n".join("    " + line for line in body.strip("\n").splitlines())
    (root / "server.py").write_text(SERVER.format(body=indented))
    manifest = {
        "name": "@tests/container",
        "version": "1.0.0",
        "runtime": runtime
        or {
            "kind": "container",
            "image": PYTHON_IMAGE,
            "port": 8080,
            "command": ["python3", "/module/server.py"],
        },
        "security": {
            "permissions": permissions or [],
            "limits": limits or {"memory": "64MB", "cpu": "500m", "timeout": "2s"},
        },
    }
    (root / "module.json").write_text(json.dumps(manifest, indent=2))
    # The container runs as nobody: the module tree must be readable by others.
    for path in (root, *root.iterdir()):
        path.chmod(0o755)
    return root


MB = 1_000_000


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Temp files of this test only (other sandbench runs may share /tmp)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def start(engine: ContainerBackend, root: Path, grants: Grants | None = None) -> LoadResult:
    package = load(root)
    limits = limits_for(package.manifest, SandboxLimits(), SandboxLimits(cpu_millicores=2000))
    return engine.load(package, limits.limits, grants or Grants())


def get(instance: ContainerInstance, path: str = "/"):
    return instance.invoke(Request(method="GET", path=path))


def answer(result: LoadResult) -> dict:
    assert result.violation is None, result.violation
    assert result.instance is not None
    with result.instance as instance:
        outcome = get(instance)
    assert outcome.ok, outcome
    return json.loads(outcome.response.body)


def test_example_answers_with_usage_from_the_cgroup(engine):
    result = start(engine, EXAMPLES / "python-http")
    assert result.instance is not None, result.violation
    with result.instance as instance:
        outcomes = [get(instance) for _ in range(3)]
        counters = instance.counters
    assert all(o.ok and o.response.status == 200 for o in outcomes)
    assert json.loads(outcomes[0].response.body) == {"status": "ok", "module": "python-http"}
    assert 1 * MB < outcomes[-1].usage.memory_bytes < 64 * MB
    assert counters.cpu_ns > 0
    assert result.load_ms > 0


def test_container_carries_every_hardening_option(engine):
    result = start(engine, EXAMPLES / "python-http")
    assert result.instance is not None
    with result.instance as instance:
        attrs = instance.container.attrs
    host = attrs["HostConfig"]
    assert host["Memory"] == host["MemorySwap"] == 64 * MB
    assert host["NanoCpus"] == 500 * 1_000_000
    assert host["PidsLimit"] == PIDS_LIMIT
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["NetworkMode"] == "none"
    # No /dev/shm and no IPC object that could hold data beside /tmp.
    assert host["IpcMode"] == "none"
    assert host["Sysctls"] == {"kernel.shmmax": "0", "kernel.msgmni": "0", "kernel.sem": "0 0 0 0"}
    assert host["Ulimits"] == [
        {"Name": "msgqueue", "Soft": 0, "Hard": 0},
        {"Name": "nofile", "Soft": 1024, "Hard": 1024},  # limits.files, the default
    ]
    assert "size=16000000" in host["Tmpfs"]["/tmp"]  # noqa: S108 - inside the container
    assert attrs["Config"]["User"] == "65534:65534"
    assert attrs["Config"]["Labels"][LABEL] == "1"
    assert host["LogConfig"]["Config"]["max-file"] == "2"


INSIDE = r"""
import errno
report = {"uid": os.getuid()}
status = open("/proc/self/status").read()
report["no_new_privs"] = "NoNewPrivs:\t1" in status
report["cap_eff"] = [l.split()[1] for l in status.splitlines() if l.startswith("CapEff")][0]
report["interfaces"] = sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:])
def attempt(fn):
    try:
        fn()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
report["write_root"] = attempt(lambda: open("/escape", "w").write("x"))
report["write_tmp"] = attempt(lambda: open("/tmp/scratch", "w").write("x"))
report["setuid"] = attempt(lambda: os.setuid(0))
def connect(host):
    return attempt(lambda: socket.create_connection((host, int(handler.headers.get("x-port", "9"))), timeout=1))
report["loopback"] = connect("127.0.0.1")
report["gateway"] = connect(handler.headers.get("x-gateway", "172.17.0.1"))
report["read_bucket"] = sorted(os.listdir("/storage/docs"))
report["write_read_bucket"] = attempt(lambda: open("/storage/docs/new", "w").write("x"))
report["write_write_bucket"] = attempt(lambda: open("/storage/out/new", "w").write("x"))
return report
"""


class _Listener:
    """A TCP listener on the host that counts the connections it accepts."""

    def __init__(self, host: str) -> None:
        self.sock = socket.create_server((host, 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.accepted = 0

    def drain(self) -> int:
        try:
            while True:
                conn, _ = self.sock.accept()
                conn.close()
                self.accepted += 1
        except TimeoutError:
            return self.accepted


def _gateway(engine: ContainerBackend) -> str:
    config = engine.client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    subnet = ipaddress.ip_network(config["Subnet"])
    return config.get("Gateway") or str(next(subnet.hosts()))


def test_hostile_escapes_fail_inside(engine, tmp_path):
    root = write_module(
        tmp_path / "inside",
        INSIDE,
        permissions=["storage:read:docs", "storage:write:out"],
        limits={"memory": "64MB", "cpu": "500m", "timeout": "5s", "storage": "8MB"},
    )
    gateway = _gateway(engine)
    loopback, bridge = _Listener("127.0.0.1"), _Listener(gateway)
    package = load(root)
    with Workspace(package.manifest, tmp_path / "buckets") as workspace:
        (tmp_path / "buckets" / "docs" / "a.txt").write_text("hello")
        (tmp_path / "buckets" / "docs" / "a.txt").chmod(0o644)
        result = start(engine, root, workspace.grants)
        assert result.instance is not None, result.violation
        with result.instance as instance:
            headers = (("x-port", str(loopback.port)), ("x-gateway", gateway))
            outcome = instance.invoke(Request(path="/", headers=headers))
        written = (tmp_path / "buckets" / "out" / "new").read_text()
    report = json.loads(outcome.response.body)
    assert report["uid"] == 65534
    assert report["no_new_privs"] is True
    assert int(report["cap_eff"], 16) == 0
    assert report["interfaces"] == ["lo"]
    assert report["write_root"] == "EROFS"
    assert report["write_tmp"] == "ok"
    assert report["setuid"] == "EPERM"
    assert report["loopback"] == "ECONNREFUSED"  # the container's own lo, not the host's
    assert report["gateway"] == "ENETUNREACH"
    assert report["read_bucket"] == ["a.txt"]
    assert report["write_read_bucket"] == "EROFS"
    assert report["write_write_bucket"] == "ok"
    assert written == "x"
    assert loopback.drain() == 0
    assert bridge.drain() == 0
    loopback.sock.close()
    bridge.sock.close()


HOSTILE = {
    "fork-bomb": (
        """
children = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
except OSError:
    return {"children": children}
""",
        ViolationKind.PIDS,
    ),
    "memory-hog": (
        """
hog = []
while True:
    hog.append(bytearray(8 * 1024 * 1024))
""",
        ViolationKind.MEMORY,
    ),
    "cpu-spin": (
        """
while True:
    pass
""",
        ViolationKind.CPU,
    ),
    "sleeper": (
        """
time.sleep(30)
""",
        ViolationKind.TIMEOUT,
    ),
    "log-flood": (
        """
line = "x" * 1023 + "\\n"
for _ in range(8 * 1024):
    sys.stderr.write(line)
sys.stderr.flush()
time.sleep(5)
return {}
""",
        ViolationKind.OUTPUT,
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_module_is_contained(engine, tmp_path, private_tmp, name):
    body, kind = HOSTILE[name]
    limits = {
        "memory": "64MB",
        "cpu": "100m" if name == "cpu-spin" else "500m",
        "timeout": "1500ms",
    }
    root = write_module(tmp_path / name, body, limits=limits, permissions=["storage:write:out"])
    with Workspace(load(root).manifest) as workspace:
        result = start(engine, root, workspace.grants)
        assert result.instance is not None, result.violation
        with result.instance as instance:
            outcome = get(instance)
            again = get(instance)
            container = instance.container
    assert outcome.violation is not None, outcome
    assert outcome.violation.kind is kind, outcome.violation
    assert again.violation == outcome.violation  # a spent instance stays spent
    if kind is ViolationKind.CPU:
        assert outcome.usage.throttled_ms > 0
    if kind is ViolationKind.MEMORY:
        assert outcome.usage.memory_bytes >= 60 * MB
    assert container.id not in backend_leftovers()
    assert list(private_tmp.iterdir()) == []


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: ClassVar[list[str]] = []

    def do_GET(self):
        _Upstream.hits.append(self.path)
        body = b"upstream says hi"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Upstream.hits = []
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


EGRESS = """
import urllib.request, urllib.error
url = handler.path.split("?u=", 1)[1]
try:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return {"status": answer.status, "body": answer.read().decode()}
except urllib.error.HTTPError as exc:
    return {"status": exc.code}
"""


def test_egress_goes_only_through_the_allow_list_and_rate(engine, tmp_path, upstream):
    root = write_module(
        tmp_path / "egress",
        EGRESS,
        permissions=[f"api:external:upstream.example:{upstream}"],
        limits={"memory": "64MB", "cpu": "500m", "timeout": "5s", "network": "2req/min"},
    )
    # The upstream is on the host's loopback: only a name the operator pinned reaches it.
    pins = {"upstream.example": f"127.0.0.1:{upstream}"}
    result = start(engine, root, Grants(host=HostSettings(http=HttpSettings(resolve=pins))))
    assert result.instance is not None, result.violation
    allowed = f"http://upstream.example:{upstream}/data"
    with result.instance as instance:
        first = get(instance, f"/?u={allowed}")
        denied = get(instance, "/?u=http://crm.example.com/leak")
        second = get(instance, f"/?u={allowed}")
        limited = get(instance, f"/?u={allowed}")
        denials = instance.denials
    assert first.ok
    assert json.loads(first.response.body) == {"status": 200, "body": "upstream says hi"}
    assert json.loads(denied.response.body) == {"status": 403}
    assert denied.violation.kind is ViolationKind.NETWORK_DENIED
    assert "crm.example.com:80 (host)" in denied.violation.message
    assert second.ok
    assert json.loads(limited.response.body) == {"status": 429}
    assert limited.violation.kind is ViolationKind.NETWORK_DENIED
    assert [(d.host, d.reason) for d in denials] == [
        ("crm.example.com", "host"),
        ("upstream.example", "rate"),
    ]
    assert all(d.at > time.time() - 60 for d in denials)
    assert _Upstream.hits == ["/data", "/data"]


def test_module_built_from_a_dockerfile(engine, tmp_path):
    root = write_module(
        tmp_path / "built",
        'return {"built": open("/srv/marker").read()}',
        runtime={"kind": "container", "build": ".", "port": 9000},
    )
    (root / "Dockerfile").write_text(
        "FROM sandbench/python:bookworm\nRUN echo from-dockerfile > /srv/marker\n"
        'COPY server.py /srv/server.py\nCMD ["python3", "/srv/server.py"]\n'
    )
    assert answer(start(engine, root)) == {"built": "from-dockerfile\n"}


def test_missing_image_and_early_exit_are_violations(engine, tmp_path):
    missing = write_module(
        tmp_path / "missing",
        "return {}",
        runtime={"kind": "container", "image": "sandbench/absent:none"},
    )
    result = start(engine, missing)
    assert result.violation.kind is ViolationKind.INVALID_MODULE
    assert "sandbench images build python" in result.violation.message
    crash = write_module(
        tmp_path / "crash",
        "return {}",
        runtime={
            "kind": "container",
            "image": "sandbench/python:bookworm",
            "command": ["python3", "-c", "import sys; print('boom'); sys.exit(7)"],
        },
    )
    result = start(engine, crash)
    assert result.violation.kind is ViolationKind.EXIT
    assert result.violation.exit_code == 7
    assert "boom" in result.violation.message


def test_leftovers_of_a_killed_run_are_swept(engine, tmp_path, private_tmp):
    script = (
        "import os, sys, time\n"
        "from sandbench.manifests import load\n"
        "from sandbench.sandbox import Grants, SandboxLimits\n"
        "from sandbench.sandbox.container import ContainerBackend\n"
        "backend = ContainerBackend()\n"
        f"result = backend.load(load({str(EXAMPLES / 'python-http')!r}), SandboxLimits(), Grants())\n"
        "print(result.instance.container.id, flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "TMPDIR": str(private_tmp)}
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    )
    container_id = child.stdout.readline().strip()
    child.kill()
    child.wait()
    child.stdout.close()
    assert any(container_id.startswith(c) for c in backend_leftovers())
    assert sorted(p.name for p in private_tmp.glob("sandbench-run/*/*")) == [
        "host",
        "module",
        "owner",
    ]
    with ContainerBackend() as fresh:
        assert fresh.swept >= 2  # the container and its host API socket folder
    assert not any(container_id.startswith(c) for c in backend_leftovers())
    assert list(private_tmp.iterdir()) == []


def test_ctrl_c_during_check_removes_the_container(engine, tmp_path, private_tmp):
    root = write_module(
        tmp_path / "slow",
        "time.sleep(20)\nreturn {}",
        limits={"timeout": "20s"},
        permissions=["storage:write:out"],
    )
    env = {**os.environ, "SANDBENCH_DEBUG": "", "TMPDIR": str(private_tmp)}
    child = subprocess.Popen(
        [str(Path(sys.executable).parent / "sandbench"), "check", str(root), "--calls", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        # Only the child's containers: other runs may share the engine.
        while not backend_leftovers(child.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert backend_leftovers(child.pid), "the check never started a container"
        # The check's buckets and its instance's run folder (host API socket, module copy),
        # only; waited for, not slept for: a busy machine takes longer to get there.
        names: list[str] = []
        while names != ["run", "storage"] and time.monotonic() < deadline:
            time.sleep(0.1)
            names = sorted(p.name.split("-")[1] for p in private_tmp.iterdir())
        assert names == ["run", "storage"]
        child.send_signal(2)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:  # a failed assertion must not leave the check running
            child.kill()
            child.communicate()
    assert backend_leftovers(child.pid) == []
    assert list(private_tmp.iterdir()) == [], err.decode()[-2000:]


def test_warm_pool_hands_out_started_containers(engine):
    package = load(EXAMPLES / "python-http")
    limits = SandboxLimits(memory_bytes=64 * MB, cpu_millicores=500)
    before = set(backend_leftovers(os.getpid()))
    assert engine.prewarm(package, limits, Grants(), count=2) == 2
    warmed = set(backend_leftovers(os.getpid())) - before
    pooled = [engine.load(package, limits, Grants()) for _ in range(2)]
    other = engine.load(package, limits.model_copy(update={"timeout_ms": 999}), Grants())
    fresh = engine.load(package, limits, Grants())
    try:
        # Told apart by which containers they run in, not by how fast they came.
        ids = [r.instance.container.id[:12] for r in (*pooled, other, fresh)]
        assert set(ids[:2]) == warmed
        assert ids[2] not in warmed  # other limits: not from the pool
        assert ids[3] not in warmed  # the pool is empty again
        for result in (*pooled, other, fresh):
            assert get(result.instance).ok
    finally:
        for result in (*pooled, other, fresh):
            result.instance.close()
