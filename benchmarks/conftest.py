"""Benchmark fixtures and the ratio report.

Each benchmark group holds one baseline (a name containing `raw`: wasmtime-py used
directly with its default `Config` and no limits, a bare uvicorn app, a bare `docker run`, a
bare wasmtime host function) and the sandbench path doing the same work. At the end
of a timed run the summary prints, per group, sandbench's median over the baseline's median
from this same run, never an absolute time to compare across machines.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbench.sandbox.wasm import WasmBackend

# Traps and calls are slower with RUST_BACKTRACE=1 (FIELD-NOTES): measure without it.
os.environ["RUST_BACKTRACE"] = "0"

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "modules"

# Groups whose ratio is an issue's target get a line of their own saying what it compares.
TARGETS = {
    "reactor-64B-extism": "sandbench reactor call / Extism call, 64 B in and out (target <= 1.5x)",
}


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WasmBackend]:
    with WasmBackend(tmp_path_factory.mktemp("bench-cache")) as wasm:
        yield wasm


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled or not session.benchmarks:
        return
    groups: dict[str, list[object]] = {}
    for bench in session.benchmarks:
        groups.setdefault(bench.group or bench.name, []).append(bench)
    terminalreporter.section("sandbench over its baseline (same run)")
    for group, benches in sorted(groups.items()):
        raw = [b for b in benches if "raw" in b.name]
        ours = [b for b in benches if "raw" not in b.name]
        if len(raw) != 1 or not ours:
            continue
        base = raw[0].stats
        for bench in ours:
            stats = bench.stats
            terminalreporter.write_line(
                f"{group:<22} {stats.median * 1e6:9.1f} us / {base.median * 1e6:9.1f} us baseline "
                f"= {stats.median / base.median:5.2f}x  (medians; IQR {stats.iqr * 1e6:.1f} / "
                f"{base.iqr * 1e6:.1f} us; rounds {stats.rounds} / {base.rounds})"
            )
            if group in TARGETS:
                terminalreporter.write_line(
                    f"  {TARGETS[group]}: {stats.median / base.median:.2f}x"
                )
