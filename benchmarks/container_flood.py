"""sandbench's threads and memory while a container module holds a flood of connections.

Not a pytest benchmark: a measurement for docs/containers.md and the issue-13 note, run by
hand on a machine with a Docker Engine and the base image:

    .venv/bin/python benchmarks/container_flood.py [COUNT]

The module (granted one external host, so it has an egress proxy) opens COUNT connections
to its host API socket and COUNT to the egress proxy, holds them, and answers. While they
are held this prints sandbench's thread count and RSS, before and during, and the
violation of the call (none on a sandbench without connection caps).
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
from pathlib import Path

import psutil

from sandbench.manifests import load
from sandbench.runtime import limits_for
from sandbench.sandbox import Grants, Request, SandboxLimits
from sandbench.sandbox.container import PYTHON_IMAGE, ContainerBackend

SERVER = r"""
import json, os, socket
from http.server import BaseHTTPRequestHandler, HTTPServer

held = []


def hold(address, family, count):
    opened = failed = 0
    for _ in range(count):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.connect(address)  # blocking: waits for sandbench to accept
        except OSError:
            failed += 1
            sock.close()
            continue
        opened += 1
        held.append(sock)
    return opened, failed


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        count = int(self.headers["x-count"])
        result = {
            "unix": hold(os.environ["SANDBENCH_HOST_API"][len("unix://"):], socket.AF_UNIX, count),
            "tcp": hold(("127.0.0.1", 3128), socket.AF_INET, count),
        }
        data = json.dumps(result).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def _module(root: Path) -> Path:
    (root / "server.py").write_text(SERVER)
    manifest = {
        "name": "@bench/flood",
        "version": "1.0.0",
        "runtime": {"kind": "container", "image": PYTHON_IMAGE, "port": 8080,
                    "command": ["python3", "/module/server.py"]},
        "security": {"permissions": ["api:external:example.com"],
                     "limits": {"memory": "256MB", "cpu": "1", "timeout": "120s",
                                "network": "10req/min"}},
    }  # fmt: skip
    (root / "module.json").write_text(json.dumps(manifest))
    for path in (root, *root.iterdir()):
        path.chmod(0o755)
    return root


def _now() -> str:
    rss = psutil.Process().memory_info().rss / 2**20
    return f"threads {threading.active_count()}, RSS {rss:.1f} MiB"


class _Peak:
    """The most threads and RSS seen while the flood runs (sampled every 50 ms)."""

    def __init__(self) -> None:
        self.threads = 0
        self.rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        process = psutil.Process()
        while not self._stop.wait(0.05):
            self.threads = max(self.threads, process.num_threads())
            self.rss = max(self.rss, process.memory_info().rss)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder, ContainerBackend() as backend:
        package = load(_module(Path(folder)))
        ceilings = SandboxLimits(cpu_millicores=2000, timeout_ms=120_000, memory_bytes=2**30)
        limits = limits_for(package.manifest, SandboxLimits(), ceilings).limits
        result = backend.load(package, limits, Grants())
        assert result.instance is not None, result.violation
        with result.instance as instance:
            print(f"before: {_now()}")
            with _Peak() as peak:
                outcome = instance.invoke(
                    Request(method="GET", path="/", headers=(("x-count", str(count)),))
                )
            print(f"peak while flooding: threads {peak.threads}, RSS {peak.rss / 2**20:.1f} MiB")
            print(f"after ({count} + {count} connections held): {_now()}")
            body = outcome.response.body.decode() if outcome.response else "-"
            print(f"module saw (opened, failed): {body}")
            print(f"violation: {outcome.violation.message if outcome.violation else 'none'}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
