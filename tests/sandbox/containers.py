"""Container modules for the tests: a stdlib HTTP server whose GET / runs one snippet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbench.sandbox.container import PYTHON_IMAGE

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
