"""`sandbench new DIR`: a Python module to start from, ready for `build` and `check`.

It writes two files and nothing else: `module.json` (a component module: `runtime.source`
app.py, `runtime.entry` module.wasm, limits a Python component fits in, the health request
`GET /` expecting 200) and `app.py` (a `handle` that answers the health request and echoes
a JSON body on `POST /echo`). `sandbench build DIR` then makes the component and signs the
manifest; `sandbench check DIR` reports it healthy.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sandbench.errors import BuildError
from sandbench.manifests import MANIFEST_NAME, parse_manifest

__all__ = ["APP", "default_name", "scaffold"]

APP = '''"""A platform module in Python: `handle` answers each request (docs/components.md)."""

from sandbench_guest import Request, Response, log


def handle(request: Request) -> Response:
    if request.method == "GET" and request.path == "/":
        return Response.json({"status": "ok"})  # the health request (module.json "health")
    if request.method == "POST" and request.path == "/echo":
        body = request.json()
        log("info", f"echo of {len(request.body)} bytes")
        return Response.json({"echo": body})
    return Response.json({"error": f"no route {request.method} {request.path}"}, status=404)
'''


def _manifest(name: str, license_: str | None) -> dict[str, object]:
    return {
        "name": name,
        "version": "0.1.0",
        **({"license": license_} if license_ else {}),
        "runtime": {"kind": "wasm", "abi": "component", "entry": "module.wasm", "source": "app.py"},
        "security": {
            "permissions": [],
            # 16 MiB is the least a Python component instantiates in; 64MB leaves it room.
            "limits": {"memory": "64MB", "cpu": "500m", "timeout": "2s", "network": "none"},
        },
        "health": {"request": {"method": "GET", "path": "/"}, "expect": {"status": 200}},
    }


def default_name(root: Path) -> str:
    """A module name from the folder's name: lower case, `[a-z0-9-]` only."""
    name = re.sub(r"[^a-z0-9]+", "-", root.resolve().name.lower()).strip("-")
    return name or "module"


def scaffold(root: Path, name: str | None = None, license_: str | None = None) -> list[Path]:
    """Write `module.json` and `app.py` into `root` (created if missing); return their paths.

    `license_` (an SPDX expression) is left out unless given: choosing one is the author's
    call. Raises `BuildError` when `root` is a file or a folder that is not empty (nothing is
    overwritten), and `ManifestError` naming the field when `name` or `license_` is invalid.
    """
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        what = "is not a folder" if not root.is_dir() else "is not empty"
        raise BuildError(root, [f"{what}; give a new folder (nothing is overwritten)"])
    text = json.dumps(_manifest(name or default_name(root), license_), indent=2) + "\n"
    parse_manifest(text, root / MANIFEST_NAME)  # a bad --name is one line naming the field
    root.mkdir(parents=True, exist_ok=True)
    written = [root / MANIFEST_NAME, root / "app.py"]
    written[0].write_text(text, encoding="utf-8")
    written[1].write_text(APP, encoding="utf-8")
    return written
