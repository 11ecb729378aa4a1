"""HOSTILE: `GET /` tries to run `id` in a process, by every door Python has.

`sandbench build` refuses a plain `import subprocess`, so the module imports it by name at
run time, then tries `os.system` and `os.posix_spawn`, catching every failure. `GET /ok`
answers 200.

Expected: a `process` violation; no process starts.
"""

import importlib
import os

from sandbench_guest import Request, Response


def _attempts() -> list[str]:
    results = []
    try:
        runner = importlib.import_module("subprocess")
        done = runner.run(["/usr/bin/id"], capture_output=True, check=False)
        results.append(f"LEAKED subprocess: {done.stdout!r}")
    except Exception as exc:
        results.append(f"subprocess: {type(exc).__name__}: {exc}")
    for name in ("system", "posix_spawn"):
        call = getattr(os, name, None)
        if call is None:
            results.append(f"os.{name}: not available")
            continue
        try:
            args = ("id",) if name == "system" else ("/usr/bin/id", ["id"], {})
            results.append(f"LEAKED os.{name}: {call(*args)!r}")
        except Exception as exc:
            results.append(f"os.{name}: {type(exc).__name__}: {exc}")
    return results


def handle(request: Request) -> Response:
    if request.path == "/ok":
        return Response.text("still here")
    return Response.text("\n".join(_attempts()))
