"""The container sandbox against hostile modules, one test per class of attack (issue 13).

Each test runs a real module in a real container on the Docker Engine; docs/containers.md
("Security") lists which test proves which protection.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest

from sandbench import check
from sandbench.hostapi.serve import MAX_CONNECTIONS
from sandbench.manifests import load
from sandbench.reports import Status
from sandbench.runtime import limits_for
from sandbench.sandbox import Grants, Request, SandboxLimits, ViolationKind
from sandbench.sandbox.container.runfolder import run_root
from tests.conftest import EXAMPLES
from tests.sandbox.test_container import get, start, write_module

pytestmark = pytest.mark.docker

# A raw-socket module: every connection gets `reply(conn)`; what it sends is the attack.
RAW = """
import os, socket, threading, time

def reply(conn):
{body}

server = socket.create_server(("127.0.0.1", int(os.environ["PORT"])))
while True:
    conn, _ = server.accept()
    threading.Thread(target=reply, args=(conn,), daemon=True).start()
"""

STALLS = {
    # The headers, then one byte of the promised body every half second.
    "drip-body": (
        'conn.recv(65536)\nconn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 100000\\r\\n\\r\\n")\n'
        'for _ in range(100000):\n    conn.sendall(b"."); time.sleep(0.5)'
    ),
    # The status line, then one header byte every half second: the head never ends.
    "drip-headers": (
        'conn.recv(65536)\nconn.sendall(b"HTTP/1.1 200 OK\\r\\nX-Slow: ")\n'
        'for _ in range(100000):\n    conn.sendall(b"a"); time.sleep(0.5)'
    ),
    # A chunked body whose chunks never stop coming.
    "endless-chunks": (
        'conn.recv(65536)\nconn.sendall(b"HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n")\n'
        'for _ in range(100000):\n    conn.sendall(b"1\\r\\nx\\r\\n"); time.sleep(0.5)'
    ),
    # Reads the request and keeps the connection open, answering nothing.
    "silent": "conn.recv(65536)\ntime.sleep(3600)",
}


def raw_module(root: Path, body: str, timeout: str = "2s") -> Path:
    write_module(root, "return {}", limits={"memory": "64MB", "cpu": "500m", "timeout": timeout})
    indented = "\n".join("    " + line for line in body.splitlines())
    (root / "server.py").write_text(RAW.format(body=indented))
    return root


@pytest.mark.parametrize("name", sorted(STALLS))
def test_the_timeout_bounds_the_whole_response(engine, tmp_path, name):
    result = start(engine, raw_module(tmp_path / name, STALLS[name]))
    assert result.instance is not None, result.violation
    with result.instance as instance:
        outcome = get(instance)
    assert outcome.violation is not None
    assert outcome.violation.kind is ViolationKind.TIMEOUT, outcome.violation
    assert outcome.response is None
    # Bounded by the 2 s limit, not by the 50,000 s the module would take: a bound far
    # above the limit keeps this independent of how busy the machine is.
    assert outcome.usage.wall_ms < 30_000


def test_slow_drip_example_is_critical_by_timeout(engine):
    report = check(EXAMPLES / "hostile" / "container-slow-drip", backend=engine)
    assert report.status is Status.CRITICAL
    assert [(v.kind, v.phase) for v in report.violations] == [("timeout", "invoke")]


WRITABLE = r"""
import ctypes, errno, os
found = []
for top, dirs, files in os.walk("/"):
    if top.startswith(("/proc", "/sys")):
        dirs[:] = []
        continue
    probe = os.path.join(top, ".probe")
    try:
        with open(probe, "w") as f:
            f.write("x")
        os.unlink(probe)
        found.append(top)
    except OSError:
        pass
libc = ctypes.CDLL(None, use_errno=True)
ipc = {
    "shmget": libc.shmget(0, 4096, 0o1600),
    "msgget": libc.msgget(0, 0o1600),
    "semget": libc.semget(0, 1, 0o1600),
    "mq_open": ctypes.CDLL("librt.so.1", use_errno=True).mq_open(b"/q", os.O_CREAT | os.O_RDWR, 0o600, None),
}
limits = [l for l in open("/proc/self/limits") if l.startswith("Max msgqueue")]
return {"writable": found, "ipc": ipc, "shm": os.path.exists("/dev/shm"), "limits": limits}
"""


def test_tmp_is_the_only_writable_place(engine, tmp_path):
    root = write_module(
        tmp_path / "writable",
        WRITABLE,
        runtime={"kind": "container", "build": ".", "port": 8080},
    )
    # An image that declares VOLUMEs owned by the sandbox user: the engine would give
    # each a writable anonymous volume on its own disk, outside limits.storage.
    (root / "Dockerfile").write_text(
        "FROM sandbench/python:bookworm\n"
        "RUN mkdir -p /data /home/nobody /var/cache/mod && chown 65534:65534 /data /home/nobody /var/cache/mod\n"
        'VOLUME ["/data", "/var/cache/mod"]\n'
        'COPY server.py /srv/server.py\nCMD ["python3", "/srv/server.py"]\n'
    )
    result = start(engine, root)
    assert result.instance is not None, result.violation
    with result.instance as instance:
        outcome = get(instance)
        volumes = [m for m in instance.container.attrs["Mounts"] if m["Type"] == "volume"]
    assert outcome.ok, outcome
    seen = json.loads(outcome.response.body)
    assert seen["writable"] == ["/tmp"]  # noqa: S108 - inside the container
    assert seen["shm"] is False
    assert all(result == -1 for result in seen["ipc"].values()), seen["ipc"]
    assert seen["limits"][0].split()[3:5] == ["0", "0"]
    assert volumes == []  # no anonymous volume was created


FLOOD = r"""
import select, socket
global held
held = []
count = int(handler.headers["x-count"])
def hold(address, family):
    opened = refused = 0
    for _ in range(count):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(5)
        try:
            sock.connect(address)
            opened += 1
        except OSError:
            refused += 1
            sock.close()
            continue
        held.append(sock)
    return opened, refused
unix = hold(os.environ["SANDBENCH_HOST_API"].removeprefix("unix://"), socket.AF_UNIX)
tcp = hold(("127.0.0.1", 3128), socket.AF_INET)
# A refused connection is closed by sandbench at once: it reads as end-of-file.
time.sleep(0.2)
readable, _, _ = select.select(held, [], [], 0.3)
closed = 0
for sock in readable:
    try:
        closed += sock.recv(1) == b""
    except OSError:
        closed += 1
return {"unix": unix, "tcp": tcp, "closed": closed}
"""


def test_a_connection_flood_is_capped_refused_and_a_violation(engine, tmp_path):
    root = write_module(
        tmp_path / "flood",
        FLOOD,
        permissions=["api:external:example.com"],
        limits={"memory": "128MB", "cpu": "500m", "timeout": "20s", "network": "10req/min"},
    )
    package = load(root)
    ceilings = SandboxLimits(cpu_millicores=2000, timeout_ms=20_000)
    limits = limits_for(package.manifest, SandboxLimits(), ceilings).limits
    result = engine.load(package, limits, Grants())
    assert result.instance is not None, result.violation
    before = threading.active_count()
    with result.instance as instance:
        outcome = instance.invoke(Request(method="GET", path="/", headers=(("x-count", "500"),)))
        # The module still holds every connection it could open: count our threads now.
        during = threading.active_count()
    assert outcome.response is not None, outcome
    seen = json.loads(outcome.response.body)
    # Past the cap a connection is closed at once, or (a unix socket's backlog full)
    # never accepted: the module holds at most the cap on each server.
    not_held = seen["closed"] + seen["unix"][1] + seen["tcp"][1]
    assert not_held >= 2 * (500 - MAX_CONNECTIONS), seen
    assert during - before <= 2 * MAX_CONNECTIONS + 4
    assert outcome.violation is not None
    assert outcome.violation.kind is ViolationKind.NETWORK_DENIED
    assert "connections open at once" in outcome.violation.message
    assert "refused" in outcome.violation.message


def test_the_instances_of_a_module_share_its_caps(engine, tmp_path):
    root = write_module(
        tmp_path / "flood-twice",
        FLOOD,
        permissions=["api:external:example.com"],
        limits={"memory": "128MB", "cpu": "500m", "timeout": "20s", "network": "10req/min"},
    )
    package = load(root)
    ceilings = SandboxLimits(cpu_millicores=2000, timeout_ms=20_000)
    limits = limits_for(package.manifest, SandboxLimits(), ceilings).limits
    first, second = (engine.load(package, limits, Grants()) for _ in range(2))
    assert first.instance is not None, first.violation
    assert second.instance is not None, second.violation
    before = threading.active_count()
    flood = Request(method="GET", path="/", headers=(("x-count", "100"),))
    with first.instance as one, second.instance as two:
        outcomes = [one.invoke(flood), two.invoke(flood)]
        during = threading.active_count()  # both still hold what they could open
    # One bound per module, not per instance: two floods get no more threads than one.
    assert during - before <= 2 * MAX_CONNECTIONS + 4
    assert all(o.violation is not None for o in outcomes), outcomes
    assert all(o.violation.kind is ViolationKind.NETWORK_DENIED for o in outcomes)


def test_a_flooding_module_is_not_healthy(engine, tmp_path):
    root = write_module(
        tmp_path / "flood",
        FLOOD.replace('int(handler.headers["x-count"])', "100"),
        permissions=["api:external:example.com"],
        limits={"memory": "128MB", "cpu": "500m", "timeout": "20s", "network": "10req/min"},
    )
    report = check(root, backend=engine)
    assert report.status is not Status.HEALTHY
    assert any("connections open at once" in v.message for v in report.violations)


# Each URL names the test's listener on the host's loopback, spelled another way.
LOOPBACK_SPELLINGS = [
    "localhost",
    "localhost.",
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "0.0.0.0",  # noqa: S104 - a URL the module tries, not a bind
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
]

EGRESS_ALL = r"""
import urllib.request, urllib.error
results = {}
for url in json.loads(handler.headers["x-urls"]):
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            results[url] = answer.status
    except urllib.error.HTTPError as exc:
        results[url] = exc.code
    except OSError as exc:
        results[url] = type(exc).__name__
return results
"""


def test_egress_never_reaches_the_gate_machine(engine, tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    # The grant covers any host on that port: only the address check stands in the way.
    root = write_module(
        tmp_path / "egress",
        EGRESS_ALL,
        permissions=[f"api:external:*:{port}", f"api:external:localhost:{port}"],
        limits={"memory": "64MB", "cpu": "500m", "timeout": "2s", "network": "100req/s"},
    )
    urls = [f"http://{host}:{port}/secret" for host in LOOPBACK_SPELLINGS]
    urls.append(f"https://localhost:{port}/")  # a CONNECT tunnel
    result = start(engine, root)
    assert result.instance is not None, result.violation
    with result.instance as instance, listener:
        outcome = instance.invoke(
            Request(method="GET", path="/", headers=(("x-urls", json.dumps(urls)),))
        )
        denials = instance.denials
        accepted = _drain(listener)
    assert outcome.response is not None, outcome
    seen = json.loads(outcome.response.body)
    assert accepted == 0
    plain = {u: s for u, s in seen.items() if u.startswith("http:")}
    assert plain == dict.fromkeys(urls[:-1], 403)
    assert seen[urls[-1]] != 200  # the tunnel was refused before it opened
    assert {d.reason for d in denials} == {"address"}
    assert len(denials) == len(urls)
    assert outcome.violation is not None
    assert outcome.violation.kind is ViolationKind.NETWORK_DENIED


def _drain(listener: socket.socket) -> int:
    accepted = 0
    try:
        while True:
            conn, _ = listener.accept()
            conn.close()
            accepted += 1
    except TimeoutError:
        return accepted


MOUNTINFO = """
return {"mountinfo": open("/proc/self/mountinfo").read(), "module": sorted(os.listdir("/module"))}
"""


def test_mountinfo_inside_shows_no_host_path_of_ours(engine, tmp_path):
    root = write_module(tmp_path / "mountinfo-probe-7f3a", MOUNTINFO)
    result = start(engine, root)
    assert result.instance is not None, result.violation
    with result.instance as instance:
        outcome = get(instance)
        sources = {m["Destination"]: m["Source"] for m in instance.container.attrs["Mounts"]}
    assert outcome.ok, outcome
    seen = json.loads(outcome.response.body)
    mountinfo = seen["mountinfo"]
    assert seen["module"] == ["module.json", "server.py"]  # the module's tree, as before
    for ours in (str(root), str(tmp_path), "mountinfo-probe", "pytest-of", os.getcwd()):
        assert ours not in mountinfo
    assert f"-{os.getpid()}-" not in mountinfo
    assert f"/{os.getpid()}/" not in mountinfo
    # Both come from a random folder under the neutral root, nothing else in their path.
    for target in ("/module", "/run/sandbench"):
        source = Path(sources[target])
        assert source.parent.parent == run_root()
        assert len(source.parent.name) == 16
        assert source.name in ("module", "host")
