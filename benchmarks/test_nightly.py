"""Nightly: runner overhead against the pipeline called directly, and the regression
detector's false-alarm and detection rates on real runs.

`nightly-runner`: one night over the four well-behaved example modules (1 round, so the
same work) through `sandbench.nightly.run` (a worker process, the SQLite history, resume
bookkeeping) against `pipeline.check` on the same modules in this process (`..._raw`).

`test_regression_rates_on_real_nights`: NIGHTLY_NIGHTS real nights (default 4; docs/nightly.md
used 24) of unchanged modules, each night a fresh worker, 3 rounds of 10 health calls per
cell. Every night from the third on is judged against up to 3 nights before it, as
`detect` does (it needs 2 baseline nights): A/A false alarms are regressions raised on those unchanged nights; the
detection rate is the share of the same comparisons that flag the night's real samples
scaled by 1.2 (a 20 % slowdown injected by scaling measured samples).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from sandbench.nightly import Thresholds, compare, load_config, open_store, run
from sandbench.pipeline import check

from .conftest import EXAMPLES

MODULES = ["hello", "hello-reactor", "vendas", "vendas-reactor"]
NIGHTS = int(os.environ.get("NIGHTLY_NIGHTS", "4"))
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


def test_regression_rates_on_real_nights(tmp_path, cache, capsys):
    config = load_config(_config(tmp_path, cache, rounds=3, calls=10))
    with open_store(tmp_path / "h.db") as store:
        for night in range(NIGHTS):
            run(config, store, f"night-{night:02d}")
        series: dict[str, list[list[float]]] = {}
        for run_id in store.runs():
            for result in store.results(run_id):
                series.setdefault(result.module, []).append(result.samples["health.latency_ms"])
    t = Thresholds()
    alarms = detected = comparisons = 0
    for nights in series.values():
        for i in range(t.min_nights, len(nights)):
            baseline = nights[max(0, i - t.baseline_runs) : i]
            comparisons += 1
            alarms += compare(baseline, nights[i], t).regressed
            detected += compare(baseline, [v * 1.2 for v in nights[i]], t).regressed
    with capsys.disabled():
        print(
            f"\nnightly regressions over {NIGHTS} real nights x {len(series)} modules: "
            f"A/A false alarms {alarms}/{comparisons} = {alarms / comparisons:.3f}; "
            f"20% slowdown detected {detected}/{comparisons} = {detected / comparisons:.3f}"
        )
    assert comparisons == (NIGHTS - t.min_nights) * len(MODULES)
    assert detected >= alarms
