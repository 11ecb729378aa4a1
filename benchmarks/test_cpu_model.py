"""What `cpu: 250m` grants a WASM module, measured: real CPU-seconds over a window.

For each workload (benchmarks/cpu_workloads.py: a counted loop, straight-line arithmetic,
random memory access, a quicksort of 400,000 numbers; and examples/modules/hostile/
py-infinite-loop, an interpreted Python component), a module that never finishes
(`_start` loops forever, or `while True`) is called back to back at `cpu: 250m,
timeout: 400ms` -- each call runs until the fuel stop at its 100 ms CPU budget -- after a
warm-up that empties the bucket's initial window and teaches the module's fuel rate. It
prints, per workload:

- `ratio`: the CPU-seconds the calling thread(s) really used in the window's calls (their
  POSIX thread CPU clocks read here around each call, not the backend's own accounting;
  calls refused because the share was in debt run no module code and are left out) over
  0.25 x the window's wall time, i.e. over 2.5 s for the 10 s window: 1.0 when exact;
- `stop`: CPU used by the calls the fuel stopped, over their 100 ms budget (median, range);
- `rate`: the module's learnt fuel per CPU-second, and `old`: the CPU the fixed
  2e9-fuel-per-CPU-second conversion granted a call, over the same budget.

The last row runs qsort on four instances loaded from the same module (a gateway's
`--instances 4`): one budget, shared, so the ratio is the same.

`make bench` runs the 10 s window and asserts every ratio and every median stop within
0.8-1.2; the smoke run (`--benchmark-disable`, `make test`) runs a 1 s window and asserts
nothing about time. A ratio can only reach 1.0 if the machine gives the calling thread a
quarter of a core: on an overloaded machine calls run into their 400 ms deadline first
(the `timeouts` column) and the ratio falls; the load average is printed with the table.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sandbench.components import build
from sandbench.manifests import ModulePackage, load
from sandbench.sandbox import Grants, Instance, Outcome, Request, SandboxLimits, ViolationKind
from sandbench.sandbox.budget import thread_cpu_s
from sandbench.sandbox.wasm import WasmBackend

from .conftest import EXAMPLES
from .cpu_workloads import WORKLOADS, command

CORES = 0.25
LIMITS = SandboxLimits(
    memory_bytes=64 * 1024 * 1024, cpu_millicores=int(CORES * 1000), timeout_ms=400
)
CALL_BUDGET_MS = CORES * LIMITS.timeout_ms
OLD_FUEL_PER_CPU_SECOND = 2e9  # the fixed conversion this model replaced
WARMUP_S = 2.0
PYTHON = EXAMPLES / "hostile" / "py-infinite-loop"
BUILD_CACHE = Path(__file__).resolve().parent.parent / ".sandbench-test-cache"


@dataclass
class Run:
    """Back-to-back calls from some threads: their CPU, the wall time, the outcomes."""

    cpu_s: float = 0.0
    wall_s: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ratio(self) -> float:
        return self.cpu_s / (CORES * self.wall_s)

    def stopped(self) -> list[float]:
        """CPU over budget of each call the fuel stopped (not refused, not timed out)."""
        return [
            o.usage.cpu_ms / CALL_BUDGET_MS
            for o in self.outcomes
            if o.violation is not None and o.violation.kind is ViolationKind.CPU and o.usage.fuel
        ]

    def count(self, kind: ViolationKind) -> int:
        return sum(1 for o in self.outcomes if o.violation and o.violation.kind is kind)


def _refused(outcome: Outcome) -> bool:
    """Refused before running: the module's share was in debt for longer than the timeout."""
    violation = outcome.violation
    return violation is not None and "CPU share" in violation.message and not outcome.usage.fuel


def _calls(instance: Instance, request: Request, seconds: float, run: Run) -> None:
    """Call `instance` back to back for `seconds`; add the CPU this thread used in the
    calls that ran (a refused call runs no module code; its caller backs off 10 ms)."""
    start, used, outcomes = time.perf_counter(), 0.0, []
    while time.perf_counter() - start < seconds:
        before = thread_cpu_s()
        outcome = instance.invoke(request)
        if _refused(outcome):
            time.sleep(0.01)
        else:
            used += thread_cpu_s() - before
        outcomes.append(outcome)
    with run.lock:
        run.cpu_s += used
        run.outcomes += outcomes


def sustained(instances: list[Instance], request: Request, seconds: float) -> Run:
    """One thread per instance, calling it for `seconds`; returns what they got together."""
    run = Run()
    threads = [
        threading.Thread(target=_calls, args=(instance, request, seconds, run))
        for instance in instances
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.wall_s = time.perf_counter() - start
    return run


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[ModulePackage, Request]]:
    """name -> (a package that never finishes a call, the request that makes it spin)."""
    root = tmp_path_factory.mktemp("cpu-model")
    found: dict[str, tuple[ModulePackage, Request]] = {}
    for name in WORKLOADS:
        folder = root / name
        folder.mkdir()
        (folder / "module.wat").write_text(command(name, reps=0))
        manifest = {
            "name": f"@bench/{name}",
            "version": "1.0.0",
            "runtime": {"kind": "wasm", "entry": "module.wat", "abi": "command"},
            "security": {"permissions": [], "limits": {}},
        }
        (folder / "module.json").write_text(json.dumps(manifest))
        found[name] = (load(folder), Request())
    python = root / "python-component"
    shutil.copytree(PYTHON, python, ignore=shutil.ignore_patterns("module.wasm", "__pycache__"))
    build(python, cache_dir=BUILD_CACHE)
    found["python-component"] = (load(python), Request(path="/"))
    return found


def measure(
    backend: WasmBackend,
    package: ModulePackage,
    request: Request,
    seconds: float,
    n: int = 1,
    warmup_s: float = WARMUP_S,
) -> Run:
    """Warm up (empty the initial window, learn the rate), then the measured window."""
    results = [backend.load(package, LIMITS, Grants()) for _ in range(n)]
    instances = [r.instance for r in results if r.instance is not None]
    assert len(instances) == n, [r.violation for r in results]
    try:
        sustained(instances, request, warmup_s)
        return sustained(instances, request, seconds)
    finally:
        for instance in instances:
            instance.close()


def _row(name: str, run: Run) -> str:
    stops = run.stopped()
    stop = (
        f"{statistics.median(stops):5.2f} ({min(stops):.2f}-{max(stops):.2f}, n={len(stops)})"
        if stops
        else "   - (no call stopped by fuel)"
    )
    fuel = sum(o.usage.fuel for o in run.outcomes)
    cpu_s = sum(o.usage.cpu_ms for o in run.outcomes) / 1000
    # A window whose calls were all refused (the share still in debt from the warm-up,
    # as on a short smoke window with four instances) measured no rate.
    rate = fuel / cpu_s if cpu_s else 0.0
    old = OLD_FUEL_PER_CPU_SECOND / rate if rate else float("nan")
    return (
        f"{name:<22} {run.cpu_s:6.3f} CPU-s / {CORES * run.wall_s:5.3f} = ratio {run.ratio:4.2f}"
        f"   stop {stop}   rate {rate:8.3g}   old {old:4.2f}"
        f"   timeouts {run.count(ViolationKind.TIMEOUT)}"
        f"   refused {sum(1 for o in run.outcomes if _refused(o))}"
    )


def test_cpu_share_over_a_workload_matrix(
    benchmark: Any,
    backend: WasmBackend,
    modules: dict[str, tuple[ModulePackage, Request]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    window, warmup = (1.0, 0.5) if benchmark.disabled else (10.0, WARMUP_S)
    runs: dict[str, Run] = {}

    def matrix() -> None:
        for name, (package, request) in modules.items():
            runs[name] = measure(backend, package, request, window, warmup_s=warmup)
        qsort, request = modules["qsort"]
        runs["qsort x4 instances"] = measure(backend, qsort, request, window, 4, warmup)

    load = os.getloadavg()[0]
    benchmark.pedantic(matrix, rounds=1, iterations=1)
    with capsys.disabled():
        print(f"\n`cpu: 250m`, timeout 400 ms, {window:.0f} s window after {warmup:.1f} s")
        for name, run in runs.items():
            print(_row(name, run))
        print(
            f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after, {os.cpu_count()} cores"
        )
    for name, run in runs.items():
        assert run.outcomes, name
        if benchmark.disabled:
            continue
        assert 0.8 <= run.ratio <= 1.2, (name, run.ratio)
        stops = run.stopped()
        assert stops, name
        assert 0.8 <= statistics.median(stops) <= 1.2, (name, stops)
