"""The readers' time is proportional to the size of their input.

Each reader runs over inputs of 1x, 4x and 16x the base size (tests/scanners/growing.py:
imports, exports, permissions, calls on one line and comments all grow together). The
baseline is the 1x input in this same run: the summary line prints the time per byte at
4x and 16x over the time per byte at 1x, and with timing on (`make bench`) the 16x ratio
must stay within 2x (a quadratic reader gives 16x). No absolute time is compared.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbench.scanners._support.component_binary import read_component
from sandbench.scanners._support.pysource import python_use
from sandbench.scanners._support.wasm_binary import read_wasm
from sandbench.scanners._support.wat import read_wat
from sandbench.scanners.capabilities import CapabilityScanner
from tests.scanners.growing import component, module_package, python_source, wasm, wat

BASE = 40  # the factor k of growing.py at 1x
FACTORS = (1, 4, 16)
ROUNDS = 5
_SCRATCH: str | None = None  # the test's tmp_path while it runs (removed by pytest)


def _folder_of(k: int) -> tuple[Callable[[], Any], int]:
    root = Path(tempfile.mkdtemp(prefix="bench-linear-", dir=_SCRATCH))
    text = python_source(k)
    (root / "app.py").write_text(text)
    return (lambda: python_use(root)), len(text)


def _package_of(kind: str) -> Callable[[int], tuple[Callable[[], Any], int]]:
    def make(k: int) -> tuple[Callable[[], Any], int]:
        folder = Path(tempfile.mkdtemp(prefix="bench-linear-", dir=_SCRATCH))
        package = module_package(folder / "m", k, kind)
        size = sum(p.stat().st_size for p in package.root.iterdir())
        return (lambda: CapabilityScanner().scan(package)), size

    return make


def _in_memory(
    build: Callable[[int], Any], read: Callable[[Any], Any]
) -> Callable[[int], tuple[Callable[[], Any], int]]:
    def make(k: int) -> tuple[Callable[[], Any], int]:
        data = build(k)
        return (lambda: read(data)), len(data)

    return make


READERS: dict[str, Callable[[int], tuple[Callable[[], Any], int]]] = {
    "wasm_binary": _in_memory(wasm, read_wasm),
    "component_binary": _in_memory(component, read_component),
    "wat": _in_memory(wat, read_wat),
    "pysource": _folder_of,
    "capabilities-core": _package_of("wasm"),
    "capabilities-component": _package_of("component"),
}


def _best(work: Callable[[], Any], repeat: int, rounds: int) -> float:
    """The least CPU time of `rounds` runs of `repeat` calls: CPU time, not wall time,
    and the least disturbed round, because the machine is shared."""
    times = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(repeat):
            work()
        times.append((time.process_time() - started) / repeat)
    return min(times)


def _per_byte(make: Callable[[int], tuple[Callable[[], Any], int]], rounds: int) -> list[float]:
    result = []
    for factor in FACTORS:
        work, size = make(BASE * factor)
        # The same amount of work per size: 16 runs of 1x, 4 of 4x, 1 of 16x.
        result.append(_best(work, FACTORS[-1] // factor, rounds) / size)
    return result


@pytest.mark.parametrize("reader", sorted(READERS))
def test_reader_time_per_byte_is_flat(benchmark, reader, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}._SCRATCH", str(tmp_path))
    benchmark.group = f"linear-{reader}"
    rounds = 1 if benchmark.disabled else ROUNDS  # the CI smoke run only checks it runs
    per_byte = benchmark.pedantic(_per_byte, args=(READERS[reader], rounds), rounds=1, iterations=1)
    ratios = [p / per_byte[0] for p in per_byte]
    benchmark.extra_info["per_byte_ratio"] = ratios
    with capsys.disabled():
        shown = ", ".join(f"{f}x: {r:.2f}" for f, r in zip(FACTORS, ratios, strict=True))
        print(f"\n{reader:<24} time per byte over 1x: {shown}")
    if not benchmark.disabled:
        assert ratios[-1] <= 2.0, f"{reader}: time per byte at 16x is {ratios[-1]:.2f}x that at 1x"
