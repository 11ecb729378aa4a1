"""Nightly: runner overhead against the pipeline called directly, and the regression
detector's false-alarm and detection rates on real runs.

`nightly-runner`: one night over the four well-behaved example modules (1 round, so the
same work) through `sandbench.nightly.run` (a worker process, the SQLite history, resume
bookkeeping) against `pipeline.check` on the same modules in this process (`..._raw`).

`test_regression_rates_on_real_nights`: NIGHTLY_NIGHTS real nights (default 2, the smoke run
of `make test`; docs/nightly.md used 24) of 8 modules (the WAT examples, host-API modules,
vendas in both ABIs, the pricing-py component built by `sandbench build`, the
pricing-container container module). Each module has a knob that makes it do more real
work (`nightly_knobs`), calibrated to +10, +20 and +50 % of its judged per-call cost. Every
night, in one worker, each module's baseline (knob at rest) is interleaved round by round
with four candidates: itself (A/A) and the three slower versions; each cell's night is the
paired ratio with its interval. NIGHTLY_BUSY=1 keeps both cores busy (two spinning
processes) on every other night; NIGHTLY_KEEP=FILE keeps the history; NIGHTLY_HISTORY=FILE
judges a kept history again instead of running nights.

Printed for the judged metric (CPU time per call for WASM cells, latency for the container)
and, for comparison, the wall clock of every module: A/A false alarms (every A/A night from
the 10th judged with the nights before it) and, per effect, the share of steps caught by
their third night with the right night named. A step from night s is the A/A cell's real
nights before s followed by the slower version's real nights from s on (both measured
against the same baseline in the same nights), for every s from the 8th night on.
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
from collections import Counter
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
from .nightly_knobs import Knobbed, calibrate, knobbed_modules

MODULES = ["hello", "hello-reactor", "vendas", "vendas-reactor"]
NIGHTS = int(os.environ.get("NIGHTLY_NIGHTS", "2"))
BUSY = os.environ.get("NIGHTLY_BUSY", "") == "1"
KEEP = os.environ.get("NIGHTLY_KEEP", "")
HISTORY_FILE = os.environ.get("NIGHTLY_HISTORY", "")
RATE_CALLS = 5  # the candidate's check; the night's ratio comes from the paired blocks
RATE_PRECISION = 0.03  # blocks until the night's 95 % interval is within about +-3 %
EFFECTS = (0.10, 0.20, 0.50)
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


def _variant(name: str, effect: float) -> str:
    return f"{name}+{effect:.0%}" if effect else f"{name}+aa"


def _rates_config(tmp_path: Path, cache: Path, modules: list[Knobbed], root: Path) -> Path:
    # Per module: the baseline (knob at rest) paired with itself (A/A) and with each slower
    # version: each cell loads the baseline beside the candidate in the worker and
    # alternates their calls in blocks (pairing = "calls") until its interval is tight.
    paths, baselines = [], []
    for module in modules:
        base = root / module.name
        for effect in (0.0, *EFFECTS):
            path = base if effect == 0 else root / _variant(module.name, effect)
            paths.append(f'"{path}"')
            baselines.append(f'"{path}" = "{base}"\n')
    path = tmp_path / "rates.toml"
    path.write_text(
        f"[nightly]\ncalls = {RATE_CALLS}\nrounds = 1\nprecision = {RATE_PRECISION}\n"
        f"warm_runs = 0\ncold_load = false\ncell_budget = 2.5\ninterleave = {1 + len(EFFECTS)}\n"
        'pairing = "calls"\npair_calls = 8\nmax_blocks = 400\n'
        f'store = "rates.db"\ncache_dir = "{cache}"\n'
        f'[modules]\npaths = [{", ".join(paths)}]\n[matrix]\nprofile = ["default"]\n'
        f"[baselines]\n{''.join(baselines)}"
    )
    return path


def _sources(tmp_path: Path) -> dict[str, Path]:
    built = tmp_path / "pricing-py"
    shutil.copytree(
        EXAMPLES / "pricing-py", built, ignore=shutil.ignore_patterns("module.wasm", "__pycache__")
    )
    build(built, cache_dir=BUILD_CACHE)
    names = ("hello", "hello-reactor", "host-log", "host-storage", "vendas", "vendas-reactor")
    return {"pricing-py": built, "pricing-container": EXAMPLES / "pricing-container"} | {
        n: EXAMPLES / n for n in names
    }


def _rate_modules(tmp_path: Path, cache: Path) -> tuple[list[Knobbed], Path]:
    """The rate modules, calibrated, with their baseline and slower versions written."""
    modules = knobbed_modules(_sources(tmp_path))
    root = tmp_path / "rate-modules"
    root.mkdir()
    for module in modules:
        # the smoke run (a few nights) judges nothing: a rougher calibration will do
        calibrate(module, EFFECTS, tmp_path, cache, 0.01 if NIGHTS >= HISTORY else 0.04)
        module.make(root / module.name, module.base)
        for effect, knob in module.knobs.items():
            module.make(root / _variant(module.name, effect), knob)
    return modules, root


Night = tuple[float, float]  # a night's paired log ratio and its interval's lower bound


def _judge(
    runs: list[str], aa: list[Night], slow: list[Night] | None, t: Thresholds | None = None
) -> tuple[int, int, int, int]:
    """(false alarms, comparisons, caught, steps) of one module's nightly series.

    A/A: every night from the HISTORY-th on, judged with the nights before it. Detection:
    the A/A nights before s and the slower version's from s on (s = STEP_FROM .. last-2),
    caught when the alarm on the step's second or third night names night s.
    """
    t = t or Thresholds()
    alarms = comparisons = caught = 0
    for end in range(HISTORY, len(aa) + 1):
        comparisons += 1
        alarms += _alarm(runs[:end], aa[:end], t) is not None
    if slow is None:
        return alarms, comparisons, 0, 0
    steps = range(STEP_FROM, len(aa) - 2)
    for s in steps:
        stepped = aa[:s] + slow[s:]
        caught += any(_alarm(runs[:end], stepped[:end], t) == runs[s] for end in (s + 2, s + 3))
    return alarms, comparisons, caught, len(steps)


def _alarm(runs: list[str], nights: list[Night], t: Thresholds) -> str | None:
    """The night the alarm names, or None: the nightly rule on values and interval bounds."""
    values, lows = [v for v, _ in nights], [low for _, low in nights]
    judgement = judge_series(runs, values, "m", t, lows)
    return judgement.change_run if judgement and judgement.regressed else None


def _nights(tmp_path: Path, cache: Path) -> tuple[list[CellResult], list[float], str]:
    """Run NIGHTS real nights (or read NIGHTLY_HISTORY): every result, seconds per night."""
    if HISTORY_FILE:  # judge a kept history again (same nights, the current rule)
        with open_store(HISTORY_FILE) as kept:
            return kept.results(), [], f"judged again from {HISTORY_FILE}"
    modules, root = _rate_modules(tmp_path, cache)
    knobs = "; ".join(
        f"{m.name} {m.base}->" + "/".join(map(str, m.knobs.values())) for m in modules
    )
    config = load_config(_rates_config(tmp_path, cache, modules, root))
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
    return results, seconds, f"knobs (base->+10/20/50 %): {knobs}"


# (metric kind, module, effect) -> (runs, nights): each night's paired log ratio and bound
Series = dict[tuple[str, str, float], tuple[list[str], list[Night]]]


def _series(results: list[CellResult]) -> Series:
    series: Series = {}
    for result in sorted(results, key=lambda r: r.run_id):
        name = Path(result.module).name
        module, _, tag = name.partition("+")
        effect = 0.0 if tag in ("", "aa") else float(tag.rstrip("%")) / 100
        for kind, metric in (("judged", result.primary), ("latency", "health.latency_ms")):
            value = night_value(result, metric) if metric else None
            if value is not None and value.paired:
                runs, nights = series.setdefault((kind, module, effect), ([], []))
                runs.append(result.run_id)
                low = value.interval.low if value.interval else -math.inf
                nights.append((value.value, low))
    return series


def _table(series: Series, kind: str) -> list[str]:
    modules = sorted({m for k, m, e in series if k == kind and e == 0})
    lines, per_module = [], []
    for effect in (0.0, *EFFECTS):
        totals = []
        for module in modules:
            runs, aa = series[(kind, module, 0.0)]
            slow = None
            if effect:  # judged over the nights both have (a night may lack a report)
                slow_runs, slow_values = series.get((kind, module, effect), ([], []))
                by_run = dict(zip(slow_runs, slow_values, strict=True))
                kept = [i for i, run in enumerate(runs) if run in by_run]
                runs, aa = [runs[i] for i in kept], [aa[i] for i in kept]
                slow = [by_run[run] for run in runs]
            totals.append(_judge(runs, aa, slow))
            if effect == 0.20 and slow:
                real = math.expm1(statistics.median(v for v, _ in slow))
                per_module.append(f"{module} {totals[-1][2]}/{totals[-1][3]} ({real:+.0%})")
        alarms, n, caught, steps = (sum(t[i] for t in totals) for i in range(4))
        if not effect:
            lines.append(f"  A/A false alarms: {alarms}/{n} = {alarms / max(n, 1):.3f}")
            continue
        real = [
            math.expm1(statistics.median(v for v, _ in series[(kind, m, effect)][1]))
            for m in modules
            if (kind, m, effect) in series
        ]
        lines.append(
            f"  +{effect:.0%} (real step, median over modules {statistics.median(real or [0]):+.1%}):"
            f" caught by its 3rd night, night named: {caught}/{steps} = {caught / max(steps, 1):.3f}"
        )
    lines.append("  +20% caught per module (its real step): " + ", ".join(per_module))
    return lines


def _pairing(results: list[CellResult]) -> str:
    """How the nights were paired: blocks per cell, why they stopped, the interval's width."""
    paired = [r.pairing for r in results if r.pairing is not None]
    if not paired:
        return "paired blocks: none"
    stops = Counter(p.stopped for p in paired)
    widths = [
        (i.high - i.low) / 2 for r in results if (i := r.intervals.get(r.primary)) is not None
    ]
    container = [r.pairing.pairs for r in results if r.pairing and "container" in r.module]
    return (
        f"paired blocks ({paired[0].calls} calls a side each, ABBA): median "
        f"{statistics.median(p.pairs for p in paired):.0f} a cell (container "
        f"{statistics.median(container or [0]):.0f}), "
        f"{statistics.median(p.seconds for p in paired):.2f} s a session; stopped: "
        + ", ".join(f"{k} {v}" for k, v in sorted(stops.items()))
        + f"; judged interval half-width median {statistics.median(widths or [0]):.3f}"
    )


def test_regression_rates_on_real_nights(tmp_path, cache, capsys):
    began = time.monotonic()
    results, seconds, how = _nights(tmp_path, cache)
    nights = len({r.run_id for r in results})
    modules = {Path(r.module).name.partition("+")[0] for r in results}
    missing = [r for r in results if r.status.rank >= 3]  # no report: a host fault that night
    series = _series(results)
    lines = [
        f"\nnightly rates over {nights} real nights x {len(modules)} modules "
        f"({'both cores busy on alternate nights' if BUSY else 'no burner'}); "
        + (
            f"night {statistics.median(seconds):.1f} s median, {sum(seconds):.0f} s in all; "
            if seconds
            else ""
        )
        + f"{how}; cells without a report (not judged): {len(missing)}"
        + "".join(f"\n  {r.run_id} {Path(r.module).name}: {r.message[:100]}" for r in missing)
    ]
    lines.append(_pairing(results))
    lines.append(
        "judged metric (CPU time per call: a WASM call's thread clock, the container's cgroup"
        " CPU per request):"
    )
    lines += _table(series, "judged")
    lines.append(
        "wall-clock latency of every module (the same blocks; not judged, for comparison):"
    )
    lines += _table(series, "latency")
    lines.append(f"harness: {time.monotonic() - began:.0f} s in all (calibration, nights, judging)")
    with capsys.disabled():
        print("\n".join(lines))
    reported = [r for r in results if r.status.rank < 3]
    paired = [r for r in reported if r.pairing and r.pairing.pairs]
    assert {r.primary for r in paired} == {"health.cpu_ms"}  # WASM cells and the container
    assert len(paired) >= len(reported) * 19 // 20  # a night unpaired is rare, not the rule
    assert {k for k, _, _ in series} == {"judged", "latency"}
    assert len(missing) <= len(results) // 20  # a rare host fault, not a broken harness
