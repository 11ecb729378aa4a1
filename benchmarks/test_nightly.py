"""Nightly: runner overhead against the pipeline called directly, and the regression
detector's false-alarm and detection rates on real runs.

`nightly-runner`: one night over the four well-behaved example modules (1 round, so the
same work) through `sandbench.nightly.run` (a worker process, the SQLite history, resume
bookkeeping) against `pipeline.check` on the same modules in this process (`..._raw`).

`test_regression_rates_on_real_nights`: NIGHTLY_NIGHTS real nights (default 2, the smoke run
of `make test`; docs/nightly.md used 24) of 8 unchanged modules (the WASM examples, host-API
modules, the pricing-py component built by `sandbench build`, the pricing-container container
module), each paired with itself as its baseline (A/A) in ABBA rounds, each night a fresh
worker. NIGHTLY_BUSY=1 keeps both cores busy (two spinning processes) on every other night;
NIGHTLY_KEEP=FILE keeps the history; NIGHTLY_HISTORY=FILE judges a kept history again
instead of running nights. Printed per metric (wall-clock latency, CPU time per call): A/A
false alarms (every night from the 10th judged with the nights before it) and the share of
steps of +10, +20 and +50 % caught by their third night with the right night named. A step
is injected by scaling the candidate's measured samples from night s on (exactly a shift of
the night's log ratio): no slower artifact is built.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbench.components import build
from sandbench.nightly import (
    CellResult,
    Thresholds,
    judge_series,
    load_config,
    night_value,
    open_store,
    run,
)
from sandbench.pipeline import check

from .conftest import EXAMPLES

MODULES = ["hello", "hello-reactor", "vendas", "vendas-reactor"]
RATE_MODULES = [
    *MODULES,
    "pricing-py",
    "host-log",
    "host-storage",
    "pricing-container",
]
NIGHTS = int(os.environ.get("NIGHTLY_NIGHTS", "2"))
BUSY = os.environ.get("NIGHTLY_BUSY", "") == "1"
KEEP = os.environ.get("NIGHTLY_KEEP", "")
HISTORY_FILE = os.environ.get("NIGHTLY_HISTORY", "")
RATE_CALLS = 30  # calls are cheap next to a round's load: more of them, steadier nights
HISTORY = 10  # nights of history before a night is judged (A/A)
STEP_FROM = 8  # the earliest night a planted step begins
BUILD_CACHE = Path(__file__).resolve().parent.parent / ".sandbench-test-cache"
_ids = itertools.count()


def _config(tmp_path: Path, cache: Path, rounds: int, calls: int) -> Path:
    paths = ", ".join(f'"{EXAMPLES / m}"' for m in MODULES)
    path = tmp_path / "nightly.toml"
    path.write_text(
        f'[nightly]\ncalls = {calls}\nrounds = {rounds}\nstore = "h.db"\ncache_dir = "{cache}"\n'
        f"[modules]\npaths = [{paths}]\n"
    )
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nightly-cache")


def test_nightly_pipeline_direct_raw(benchmark, backend):
    benchmark.group = "nightly-runner"

    def night() -> list[str]:
        return [check(EXAMPLES / m, backend=backend, calls=10, warm_runs=3).status for m in MODULES]

    assert benchmark.pedantic(night, rounds=5, warmup_rounds=1) == ["healthy"] * 4


def test_nightly_runner(benchmark, tmp_path, cache):
    benchmark.group = "nightly-runner"
    config = load_config(_config(tmp_path, cache, rounds=1, calls=10))
    store = open_store(tmp_path / "h.db")

    def night():
        return run(config, store, f"n{next(_ids)}")

    summary = benchmark.pedantic(night, rounds=5, warmup_rounds=1)
    store.close()
    assert summary.by_status == {"healthy": 4}


def _burner(busy: bool) -> list[subprocess.Popen[bytes]]:
    """Two processes spinning (both cores busy), bounded to 10 minutes; none when quiet."""
    if not busy:
        return []
    spin = "import time\nend = time.monotonic() + 600\nwhile time.monotonic() < end: pass"
    return [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(2)]  # noqa: S603


def _stop(burners: list[subprocess.Popen[bytes]]) -> None:
    for proc in burners:
        proc.kill()
        proc.wait()


def _rates_config(tmp_path: Path, cache: Path, modules: list[Path]) -> Path:
    # A/A: every module's baseline is the same artifact, interleaved with it (ABBA rounds).
    paths = ", ".join(f'"{m}"' for m in modules)
    baselines = "".join(f'"{m}" = "{m}"\n' for m in modules)
    path = tmp_path / "rates.toml"
    path.write_text(
        f"[nightly]\ncalls = {RATE_CALLS}\nrounds = 8\nmin_rounds = 2\nprecision = 0.05\nwarm_runs = 0\ncold_load = false\n"
        f'cell_budget = 20\nstore = "rates.db"\ncache_dir = "{cache}"\n'
        f'[modules]\npaths = [{paths}]\n[matrix]\nprofile = ["default"]\n'
        f"[baselines]\n{baselines}"
    )
    return path


def _rate_modules(tmp_path: Path) -> list[Path]:
    built = tmp_path / "pricing-py"
    shutil.copytree(
        EXAMPLES / "pricing-py", built, ignore=shutil.ignore_patterns("module.wasm", "__pycache__")
    )
    build(built, cache_dir=BUILD_CACHE)
    return [EXAMPLES / m for m in RATE_MODULES if m != "pricing-py"] + [built]


def _compile(modules: list[Path], cache: Path) -> None:
    """Fill the compiled-artifact cache before the first night (a component takes seconds)."""
    for module in modules:
        check(module, calls=1, warm_runs=0, cache_dir=cache)


def _judge(
    runs: list[str], values: list[float], effect: float, t: Thresholds | None = None
) -> tuple[int, int, int]:
    """(false alarms, comparisons, caught) of one metric's nightly series.

    A/A: every night from the HISTORY-th on, judged with the nights before it. Detection:
    a step of `effect` planted from night s on (s = STEP_FROM .. last-2), caught when the
    alarm on the step's second or third night names night s.
    """
    t = t or Thresholds()
    alarms = comparisons = caught = 0
    for end in range(HISTORY, len(values) + 1):
        comparisons += 1
        judgement = judge_series(runs[:end], values[:end], "m", t)
        alarms += bool(judgement and judgement.regressed)
    if effect == 0:
        return alarms, comparisons, 0
    steps = range(STEP_FROM, len(values) - 2)
    for s in steps:
        shifted = values[:s] + [v + math.log1p(effect) for v in values[s:]]
        caught += any(
            (j := judge_series(runs[:end], shifted[:end], "m", t)) is not None
            and j.regressed
            and j.change_run == runs[s]
            for end in (s + 2, s + 3)
        )
    return alarms, comparisons, caught


def _nights(tmp_path: Path, cache: Path) -> tuple[list[CellResult], list[float], int]:
    """Run NIGHTS real nights (or read NIGHTLY_HISTORY): every result, seconds per night."""
    if HISTORY_FILE:  # judge a kept history again (same nights, the current rule)
        with open_store(HISTORY_FILE) as kept:
            results = kept.results()
        return results, [], len({r.module for r in results})
    modules = _rate_modules(tmp_path)
    config = load_config(_rates_config(tmp_path, cache, modules))
    _compile(modules, cache)
    seconds = []
    with open_store(tmp_path / "rates.db") as store:
        for night in range(NIGHTS):
            burners = _burner(BUSY and night % 2 == 1)
            started = time.monotonic()
            try:
                run(config, store, f"night-{night:02d}")
            finally:
                _stop(burners)
            seconds.append(time.monotonic() - started)
        results = store.results()
    if KEEP:  # keep the history for a second look (pytest's temporary folders rotate)
        with open_store(KEEP) as kept:
            for result in results:
                kept.record(result)
    return results, seconds, len(modules)


def test_regression_rates_on_real_nights(tmp_path, cache, capsys):
    results, seconds, module_count = _nights(tmp_path, cache)
    nights = len({r.run_id for r in results})
    series: dict[tuple[str, str], tuple[list[str], list[float]]] = {}
    missing = [r for r in results if r.status.rank >= 3]  # no report: a host fault that night
    for result in sorted(results, key=lambda r: r.run_id):
        for metric in ("health.latency_ms", "health.cpu_ms"):
            value = night_value(result, metric)
            if value is not None and value.paired:
                runs, values = series.setdefault((metric, result.module), ([], []))
                runs.append(result.run_id)
                values.append(value.value)
    lines = [
        f"\nnightly rates over {nights} real nights x {module_count} modules "
        f"({'both cores busy on alternate nights' if BUSY else 'no burner'}); "
        + (
            f"night {statistics.median(seconds):.1f} s median, {sum(seconds):.0f} s in all"
            if seconds
            else f"judged again from {HISTORY_FILE}"
        )
        + f"; cells without a report (not judged): {len(missing)}"
        + "".join(f"\n  {r.run_id} {Path(r.module).name}: {r.message[:100]}" for r in missing)
    ]
    for metric in ("health.latency_ms", "health.cpu_ms"):
        mine = [v for (m, _), v in series.items() if m == metric]
        for effect in (0.10, 0.20, 0.50):
            totals = [_judge(runs, values, effect) for runs, values in mine]
            alarms, n, caught = (sum(t[i] for t in totals) for i in range(3))
            steps = sum(max(len(v) - 2 - STEP_FROM, 0) for _, v in mine)
            if effect == 0.10:
                lines.append(
                    f"{metric} ({len(mine)} modules): A/A false alarms {alarms}/{n} = "
                    f"{alarms / max(n, 1):.3f}"
                )
            lines.append(
                f"  +{effect:.0%} step caught by its 3rd night, night named: "
                f"{caught}/{steps} = {caught / max(steps, 1):.3f}"
            )
        per_module = [
            f"{Path(module).name} {_judge(*series[(metric, module)], 0.20)[2]}"
            f"/{max(len(series[(metric, module)][1]) - 2 - STEP_FROM, 0)}"
            for m, module in sorted(series)
            if m == metric
        ]
        lines.append("  +20% caught per module: " + ", ".join(per_module))
    with capsys.disabled():
        print("\n".join(lines))
    assert {m for m, _ in series} == {"health.latency_ms", "health.cpu_ms"}
    assert sum(len(values) for _, values in series.values()) == 2 * (len(results) - len(missing))
    assert len(missing) <= len(results) // 20  # a rare host fault, not a broken harness
