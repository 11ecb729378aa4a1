"""`sandbench serve --workers N` as a user runs it: real processes on a real loopback port.
Every worker answers, a module's CPU share is one for all workers, and SIGTERM or Ctrl-C
stops them all with nothing left (processes, folders). The console block of docs/bench.md
("Workers") is checked against what the command prints."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from tests.conftest import EXAMPLES
from tests.sandbox import wat

SANDBENCH = str(Path(sys.executable).parent / "sandbench")
ROOT = EXAMPLES.parents[1]
WAIT_S = 120  # a bound on waiting, never an expectation of speed
ATTEMPTS = 200  # new connections tried to reach every worker (each lands on one at random)


class Served:
    """`sandbench serve ... --workers N` in its own session, with a private TMPDIR."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir()
        self.mark = uuid.uuid4().hex
        env = {**os.environ, "TMPDIR": str(self.tmp), "SANDBENCH_TEST_MARK": self.mark}
        command = [SANDBENCH, "serve", *args, "--port", "0", "--cache-dir", str(tmp_path)]
        self.process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True,
                                        start_new_session=True)  # fmt: skip
        self.lines: list[str] = []
        while not self.lines or "serving on" not in self.lines[-1]:
            line = self.process.stderr.readline()
            assert line, f"serve ended: {self.lines}"
            self.lines.append(line.strip())
        self.port = int(re.search(r"127.0.0.1:(\d+)", self.lines[-1]).group(1))

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT_S)

    def by_worker(self, wanted: dict[int, int]) -> dict[int, list[http.client.HTTPConnection]]:
        """Keep-alive connections known to reach each worker: `wanted[worker]` of each."""
        found: dict[int, list[http.client.HTTPConnection]] = {w: [] for w in wanted}
        for _ in range(ATTEMPTS):
            if all(len(found[w]) >= n for w, n in wanted.items()):
                return found
            connection = self.connect()
            worker = get(connection, "/healthz")[2]["worker"]
            if len(found.get(worker, [])) < wanted.get(worker, 0):
                found[worker].append(connection)
            else:
                connection.close()
        pytest.fail(f"not every worker answered in {ATTEMPTS} connections: {found}")

    def stop(self, sig: signal.Signals, group: bool = False) -> int:
        if group:  # what Ctrl-C in a terminal does: every process of the group gets it
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        self.process.wait(timeout=WAIT_S)
        self.process.stderr.close()
        return self.process.returncode

    def leftovers(self) -> tuple[list[psutil.Process], list[str]]:
        processes = []
        for process in psutil.process_iter():
            try:
                if process.environ().get("SANDBENCH_TEST_MARK") == self.mark:
                    processes.append(process)
            except (psutil.Error, OSError):
                continue
        return processes, sorted(p.name for p in self.tmp.iterdir())


def documented() -> tuple[list[str], list[str], dict]:
    """The docs/bench.md block showing `--workers`: its command's arguments, the lines
    `serve` printed, and the /healthz body."""
    text = (ROOT / "docs" / "bench.md").read_text()
    block = next(b for b in re.findall(r"```console\n(.*?)```", text, re.S) if "--workers" in b)
    lines = block.splitlines()
    arguments = lines[0].removeprefix("$ sandbench serve ").split()
    printed = [line for line in lines if line.startswith("sandbench: ")]
    health = json.loads(lines[lines.index(next(x for x in lines if "/healthz" in x)) + 1])
    return arguments, printed, health


def get(connection: http.client.HTTPConnection, path: str) -> tuple[int, dict, object]:
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    kind = response.getheader("content-type", "")
    return (
        response.status,
        dict(response.getheaders()),
        (json.loads(body) if kind == "application/json" else body),
    )


def answered(connection: http.client.HTTPConnection, module: str) -> float:
    """`http_requests_total{module, status="200"}` from /metrics, once every worker's count is
    in it (each publishes its own every second: polled, bounded by WAIT_S)."""
    from prometheus_client.parser import text_string_to_metric_families

    ends = time.monotonic() + WAIT_S
    while True:
        text = get(connection, "/metrics")[2].decode()
        found = {
            sample.labels.get("module"): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "http_requests_total" and sample.labels.get("status") == "200"
        }
        if found.get(module, 0) >= 2 or time.monotonic() > ends:
            return found.get(module, 0)
        time.sleep(0.2)


@pytest.mark.parametrize(("sig", "group"), [(signal.SIGTERM, False), (signal.SIGINT, True)])
def test_every_worker_answers_and_a_signal_stops_them_all(tmp_path, sig, group):
    arguments, printed, health = documented()
    modules = [str(ROOT / a) for a in arguments if a.startswith("examples/")]
    assert arguments[-2:] == ["--workers", "2"]
    served = Served(tmp_path, *modules, "--workers", "2", "--instances", "1")
    try:
        assert served.lines == [line.replace(":8000", f":{served.port}") for line in printed]
        connections = served.by_worker({0: 1, 1: 1})
        assert get(connections[0][0], "/healthz")[2].keys() == health.keys()
        pids = set()
        for worker, (connection,) in connections.items():
            status, _, body = get(connection, "/hello-reactor/")
            assert (status, body) == (200, b"hello from a reactor\n")
            health = get(connection, "/healthz")[2]
            assert health["worker"] == worker
            pids.add(health["pid"])
        assert len(pids) == 2  # two processes, not two threads of one
        for (connection,) in connections.values():  # whichever worker is scraped counts both
            assert answered(connection, "hello-reactor") == 2
            connection.close()
    finally:
        code = served.stop(sig, group)
    assert code == 0
    assert served.leftovers() == ([], [])


def test_a_module_gets_its_cpu_share_once_across_workers(tmp_path, make_module):
    # 2m with a 5 s timeout: each call may burn 10 ms of CPU, five times the 2 ms bucket.
    spin = make_module(wat.SPIN, limits={"memory": "16MiB", "cpu": "2m", "timeout": "5s"})
    served = Served(tmp_path, str(spin), "--workers", "2", "--instances", "3")
    try:
        connections = served.by_worker({0: 3, 1: 1})
        route = f"/{spin.name}/"
        answers: list[tuple[int, dict, object]] = []
        threads = [
            threading.Thread(target=lambda c=c: answers.append(get(c, route)))
            for c in connections[0]
        ]
        for thread in threads:  # three calls at once in worker 0, from a full bucket
            thread.start()
        for thread in threads:
            thread.join()
        assert [a[0] for a in answers] == [502] * 3
        # Worker 1 has not run the module yet; its share is the one worker 0 used up (about
        # 28 ms of debt: 14 s to pay off at 2m, more than the 5 s a call may wait).
        status, headers, body = get(connections[1][0], route)
        for connection in [*connections[0], *connections[1]]:
            connection.close()
    finally:
        served.stop(signal.SIGTERM)
    assert (status, headers["x-sandbench-violation"]) == (502, "cpu")
    assert "CPU share (2m) is used up" in body["message"]
    assert served.leftovers() == ([], [])


def test_workers_need_a_free_port(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [SANDBENCH, "serve", str(EXAMPLES / "hello"), "--workers", "2", "--port", str(port),
             "--cache-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=WAIT_S, check=False,
        )  # fmt: skip
    assert result.returncode == 3
    assert result.stderr.strip().endswith(
        f"cannot listen on 127.0.0.1:{port}: Address already in use"
    )
