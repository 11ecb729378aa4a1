"""Run prebuilt WebAssembly/wasi-testsuite tests (wasm32-wasip1) in sandbench's WASM sandbox.

    python -m benchmarks.wasi_testsuite PATH/poll_oneoff_stdio.wasm [MORE.wasm ...]

The test binaries are not part of this repository (they are built from the suite's code);
take them from the suite's `prod/testsuite-base` branch, `tests/rust/testsuite/wasm32-wasip1/`.
A test passes when it exits 0: it runs as a `command` module with the default limits, and
since its stdout is not a CGI response, a clean exit shows as a `protocol` outcome.
Prints one line per test and exits 1 if any failed.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from sandbench.manifests import load
from sandbench.sandbox import Grants, Request, SandboxLimits, ViolationKind
from sandbench.sandbox.wasm import WasmBackend

LIMITS = SandboxLimits(memory_bytes=64 * 1024 * 1024, cpu_millicores=1000, timeout_ms=10_000)


def run_one(backend: WasmBackend, wasm: Path) -> tuple[bool, str]:
    """(passed, what happened) for one test binary."""
    with tempfile.TemporaryDirectory(prefix="wasi-testsuite-") as folder:
        root = Path(folder)
        shutil.copy(wasm, root / "test.wasm")
        manifest = {
            "name": "wasi-testsuite",
            "version": "0.0.0",
            "license": "Apache-2.0",
            "runtime": {"kind": "wasm", "entry": "test.wasm", "abi": "command"},
            "security": {"permissions": [], "csp": {}, "limits": {"timeout": "10s"}},
            "author": {"name": "WebAssembly/wasi-testsuite", "verified": False},
        }
        (root / "module.json").write_text(json.dumps(manifest))
        loaded = backend.load(load(root), LIMITS, Grants())
        if loaded.instance is None:
            return False, f"did not load: {loaded.violation}"
        with loaded.instance as instance:
            outcome = instance.invoke(Request(method="GET", path="/", body=b"stdin bytes"))
    violation = outcome.violation
    if violation is None or violation.kind is ViolationKind.PROTOCOL:
        return True, "exit 0"
    return False, f"{violation.kind.value}: {violation.message}; stderr: {outcome.stderr[-500:]}"


def main(paths: list[str]) -> int:
    """Run each test; 0 when all passed."""
    failed = 0
    with WasmBackend(use_cache=False) as backend:
        for path in paths:
            passed, what = run_one(backend, Path(path))
            failed += not passed
            print(f"{'PASS' if passed else 'FAIL'} {Path(path).name}: {what}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
