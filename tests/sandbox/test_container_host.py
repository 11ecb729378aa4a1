"""The host API in containers, on a real Docker Engine: the socket, its records, cleanup."""

from __future__ import annotations

import json
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbench import check
from sandbench.reports import Policy, Status
from sandbench.sandbox.container import LABEL, SANDBOX_USER
from tests.conftest import EXAMPLES
from tests.sandbox.conftest import backend_leftovers
from tests.sandbox.test_container import get, start, write_module

pytestmark = pytest.mark.docker
OWNER = f"{LABEL}.owner"
# The engine is shared with other runs: judge the host API here, not start-up speed.
PATIENT = Policy(max_load_ms=10_000, p95_degraded_ms=2_000, p95_critical_ms=4_000)

# What the container sees of its host API: the variable, the mount, and one log call.
PROBE = """
folder, path = "/run/sandbench", "/run/sandbench/host.sock"
client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
client.connect(path)
client.sendall(b"POST /v1/log?level=info HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 5\\r\\n\\r\\nhello")
reply = client.recv(200).decode().split("\\r\\n")[0]
client.close()
return {
    "env": os.environ.get("SANDBENCH_HOST_API"),
    "names": os.listdir(folder),
    "writable": os.access(folder, os.W_OK),
    "socket": [os.stat(path).st_uid, oct(os.stat(path).st_mode & 0o777)],
    "reply": reply,
}
"""


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Iterator[Path]:
    """Temp files of this test only; afterwards none is left, nor a host API thread."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    assert list(folder.iterdir()) == []
    assert host_api_threads() == []


def own_containers() -> list[str]:
    """sandbench containers this process owns (other runs may share the engine)."""
    return backend_leftovers(os.getpid())


def host_api_threads() -> list[str]:
    names = [t.name for t in threading.enumerate()]
    return [n for n in names if n == "sandbench-host-api" or "process_request_thread" in n]


def host_folders(root: Path) -> list[Path]:
    """The host API socket folders under the temp folder `root` (one per container)."""
    return sorted(root.glob("sandbench-run/*/host"))


def test_each_instance_gets_a_private_socket_only_the_sandbox_user_reaches(
    engine, tmp_path, private_tmp
):
    result = start(engine, write_module(tmp_path / "probe", PROBE))
    assert result.instance is not None, result.violation
    with result.instance as instance:
        (folder,) = host_folders(private_tmp)
        assert len(own_containers()) == 1
        outcome = get(instance)
        mounts = {m["Destination"]: m for m in instance.container.attrs["Mounts"]}
        folder_mode, socket_mode = folder.stat(), (folder / "host.sock").stat()
    assert outcome.ok, outcome
    seen = json.loads(outcome.response.body)
    assert seen == {
        "env": "unix:///run/sandbench/host.sock",
        "names": ["host.sock"],
        "writable": False,
        "socket": [SANDBOX_USER[0], "0o600"],
        "reply": "HTTP/1.1 204 No Content",
    }
    assert mounts["/run/sandbench"]["Source"] == str(folder)
    assert mounts["/run/sandbench"]["RW"] is False
    assert stat.S_IMODE(folder_mode.st_mode) == 0o700
    assert stat.S_ISSOCK(socket_mode.st_mode)
    assert stat.S_IMODE(socket_mode.st_mode) == 0o600  # never world-writable on the host
    if os.geteuid() == 0:
        assert (folder_mode.st_uid, socket_mode.st_uid) == (SANDBOX_USER[0], SANDBOX_USER[0])
    assert [(line.level, line.message) for line in outcome.host.logs] == [("info", "hello")]
    assert not folder.exists()


def test_host_container_example_is_healthy_and_its_calls_are_recorded(engine, private_tmp):
    report = check(EXAMPLES / "host-container", backend=engine, calls=3, policy=PATIENT)
    assert report.status is Status.HEALTHY, [r for r in report.rules if r.status != "healthy"]
    assert report.host_api is not None
    assert report.host_api.denied == []
    calls = [(c.capability, c.action, c.target, c.code, c.count) for c in report.host_api.calls]
    assert calls == [
        ("storage", "write", "notes/visits.txt", "ok", 3),
        ("storage", "read", "notes/visits.txt", "ok", 3),
    ]
    assert [line.message for line in report.host_api.logs] == ["health check served"] * 3
    assert own_containers() == []


def test_hostile_host_container_is_refused_listed_and_critical(engine, private_tmp):
    report = check(EXAMPLES / "hostile" / "host-container", backend=engine, calls=2, policy=PATIENT)
    assert report.status is Status.CRITICAL
    assert "host-denials" in report.reasons
    assert report.violations == []  # every answer was 200: every attempt was refused
    assert report.metrics.error_rate == 0
    denied = [(d.capability, d.action, d.target, d.code, d.count) for d in report.host_api.denied]
    assert denied == [
        ("storage", "read", "other/secret.txt", "denied", 2),
        ("storage", "write", "docs/planted.txt", "denied", 2),
        ("storage", "read", "docs/../other/secret.txt", "denied", 4),  # plain and encoded
        ("database", "query", "rh", "denied", 2),
        ("database", "execute", "vendas", "denied", 2),
    ]
    assert report.host_api.calls == report.host_api.denied
    assert own_containers() == []


def test_a_failed_start_leaves_no_socket_folder_or_thread(engine, tmp_path, private_tmp):
    root = write_module(tmp_path / "exits", "return {}")
    (root / "server.py").write_text("raise SystemExit(3)\n")
    result = start(engine, root)
    assert result.violation is not None
    assert result.violation.exit_code == 3
    assert own_containers() == []


def test_a_ctrl_c_while_closing_still_removes_the_socket_folder(engine, private_tmp):
    result = start(engine, EXAMPLES / "python-http")
    assert result.instance is not None, result.violation
    container = result.instance.container
    remove = container.remove

    def interrupted(**_):
        raise KeyboardInterrupt

    container.remove = interrupted
    with pytest.raises(KeyboardInterrupt):
        result.instance.close()
    assert host_folders(private_tmp) == []
    remove(force=True)
