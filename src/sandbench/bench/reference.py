"""The reference module and the machine's CPU pressure: what a latency means on a busy machine.

A latency measured on a shared machine is the module's cost plus the machine's: waiting for
a core, for the load generator, for the gateway. Two figures separate them:

- `reference_package`: a trivial WASM module (a fixed 200 answer, a handful of
  instructions) served beside the module under test and loaded at the same rate in the
  same run. Whatever its latency is, the machine added it; the module's own share is what
  it adds above the reference (see `reports.assess`, "latency rules").
- `CpuPressure`: the share of wall time some task on the machine waited for a CPU over a
  measurement (Linux PSI, `/proc/pressure/cpu`); None where the kernel has no PSI.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import TracebackType

from sandbench.manifests import ModulePackage, load
from sandbench.sandbox import SandboxLimits

__all__ = ["REFERENCE_LIMITS", "REFERENCE_ROUTE", "CpuPressure", "reference_package"]

REFERENCE_ROUTE = "_sandbench-reference"
REFERENCE_LIMITS = SandboxLimits(memory_bytes=16 << 20, cpu_millicores=1000, timeout_ms=2000)
BUSY_PRESSURE = 0.10  # some task waited for a CPU 10 % of the time: the machine was contended

_WAT = """(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "Status: 200\\n\\nok\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 16))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"""

_MANIFEST = {
    "name": "@sandbench/reference",
    "version": "1.0.0",
    "license": "MIT",
    "description": "sandbench's reference module: a fixed 200 answer, to measure the machine.",
    "runtime": {"kind": "wasm", "entry": "module.wat", "abi": "command"},
    "security": {"permissions": [], "csp": {}, "limits": {"memory": "16MB", "cpu": "1"}},
    "health": {"request": {"method": "GET", "path": "/"}, "expect": {"status": 200}},
    "author": {"name": "sandbench", "verified": True},
}


def reference_package(folder: Path) -> ModulePackage:
    """Write the reference module into the empty or new `folder` and load it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "module.wat").write_text(_WAT)
    (folder / "module.json").write_text(json.dumps(_MANIFEST, indent=2))
    return load(folder)


class CpuPressure:
    """`with CpuPressure() as p:` ... then `p.share`: the fraction (0-1) of the block's wall
    time during which some task waited for a CPU; None without PSI."""

    PATH = Path("/proc/pressure/cpu")

    def __init__(self) -> None:
        self.share: float | None = None
        self._start: tuple[float, int] | None = None

    def __enter__(self) -> CpuPressure:
        self._start = self._read()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        end = self._read()
        if self._start is None or end is None or end[0] <= self._start[0]:
            return
        waited_s = (end[1] - self._start[1]) / 1e6
        self.share = min(1.0, max(0.0, waited_s / (end[0] - self._start[0])))

    def _read(self) -> tuple[float, int] | None:
        """(monotonic seconds, cumulative µs some task waited) or None."""
        try:
            text = self.PATH.read_text()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("some "):
                total = line.rsplit("total=", 1)[-1]
                return (time.monotonic(), int(total)) if total.isdigit() else None
        return None
