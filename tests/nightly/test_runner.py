"""The runner on real wasmtime: isolation of cells, timeouts, crashes, resume."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from sandbench.nightly import CellStatus, Worker, load_config, run
from sandbench.nightly.cell import Task
from sandbench.nightly.matrix import Cell, source_digest
from tests.conftest import EXAMPLES

PROFILES = '[profiles.small]\ndefaults = { memory = "16MiB" }\nceilings = { memory = "16MiB" }\n'


def test_every_cell_gets_a_result_and_bad_modules_do_not_stop_the_run(
    write_config, modules, sqlite_store
):
    (modules / "broken").mkdir()
    (modules / "broken" / "module.json").write_text('{"name": "x", "version": "1"}')
    config = load_config(
        write_config(
            ["modules/broken", "modules/hello", "modules/spin"],
            matrix='backend = ["wasm"]\nprofile = ["default", "small"]',
            extra=PROFILES,
        )
    )
    summary = run(config, sqlite_store, "n1")
    assert (summary.cells, summary.ran, summary.resumed) == (6, 6, 0)
    statuses = {(r.module, r.cell.split(",")[1]): r.status for r in summary.results}
    assert statuses == {
        ("modules/broken", "profile=default"): CellStatus.ERROR,
        ("modules/broken", "profile=small"): CellStatus.ERROR,
        ("modules/hello", "profile=default"): CellStatus.HEALTHY,
        ("modules/hello", "profile=small"): CellStatus.HEALTHY,
        ("modules/spin", "profile=default"): CellStatus.CRITICAL,
        ("modules/spin", "profile=small"): CellStatus.CRITICAL,
    }
    broken = next(r for r in summary.results if r.module == "modules/broken")
    assert broken.message.startswith("module.json: ")
    assert "\n" not in broken.message
    stored = {r.module: r for r in sqlite_store.results("n1")}
    hello = stored["modules/hello"]
    calls = len(hello.samples["health.latency_ms"])  # every call of every round it took
    assert calls % 8 == 0
    assert config.min_rounds * 8 <= calls <= config.rounds * 8
    assert len(hello.samples["health.cpu_ms"]) == calls  # the same calls' CPU time
    assert json.loads(hello.report)["status"] == "healthy"
    assert hello.digest == source_digest(modules / "hello")


def test_an_interrupted_run_resumes_without_redoing_finished_cells(
    write_config, modules, sqlite_store
):
    config = load_config(write_config(["modules/hello", "modules/hello-reactor", "modules/spin"]))
    seen = []

    def stop_after_two(number, total, task, result):
        seen.append((task.module, result is None))
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(config, sqlite_store, "n1", progress=stop_after_two)
    assert len(sqlite_store.done("n1")) == 2
    summary = run(config, sqlite_store, "n1")
    assert (summary.ran, summary.resumed) == (1, 2)
    assert [r.module for r in summary.results] == ["modules/spin"]
    assert len(sqlite_store.results("n1")) == 3


def test_a_changed_module_is_run_again_in_the_same_run(write_config, modules, sqlite_store):
    config = load_config(write_config(["modules/hello"]))
    run(config, sqlite_store, "n1")
    (modules / "hello" / "README").write_text("a new file: a new digest")
    assert run(config, sqlite_store, "n1").ran == 1
    assert len(sqlite_store.results("n1")) == 2


# Sleeps an hour at a time in `poll_oneoff`, forever: how long it runs depends only on its
# deadline, never on how fast the machine is.
_SLEEPER = """(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 112) (i32.const 1))
    (i64.store (i32.const 120) (i64.const 3600000000000))
    (loop $again
      (drop (call $poll_oneoff (i32.const 96) (i32.const 256) (i32.const 1) (i32.const 300)))
      (br $again))))
"""


def make_sleeper(root: Path) -> None:
    """A module whose every call sleeps until its 30 s deadline (the policy's ceiling)."""
    shutil.copytree(EXAMPLES / "hello", root)
    manifest = json.loads((root / "module.json").read_text())
    manifest["name"] = "@tests/sleeper"
    manifest["security"]["limits"]["timeout"] = "30s"
    del manifest["signature"]
    (root / "module.json").write_text(json.dumps(manifest))
    (root / "module.wat").write_text(_SLEEPER)


@pytest.mark.slow
def test_a_cell_past_its_wall_clock_is_killed_and_the_next_cell_runs(
    write_config, modules, sqlite_store, tmp_path, monkeypatch
):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # what a worker would inherit
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where worker folders are made
    # The sleeper sleeps until its own 30 s deadline, whatever the machine's speed; the
    # cell's wall clock (8 s) runs out first, and leaves hello ample time on a busy machine.
    make_sleeper(modules / "sleeper")
    paths = ["modules/sleeper", "modules/hello"]
    config = load_config(write_config(paths, cell_timeout=8, calls=1))
    summary = run(config, sqlite_store, "n1")
    assert [(r.module, r.status) for r in summary.results] == [
        ("modules/sleeper", CellStatus.TIMEOUT),
        ("modules/hello", CellStatus.HEALTHY),
    ]
    assert "cell_timeout (8 s)" in summary.results[0].message
    assert list(scratch.iterdir()) == []  # the killed worker's temporary files are gone


def test_a_worker_that_dies_or_raises_is_one_cell_result(write_config, modules, sqlite_store):
    for name in ("crash", "raise"):
        (modules / name).mkdir()
    config = load_config(write_config(["modules/crash", "modules/raise", "modules/hello"]))
    summary = run(config, sqlite_store, "n1", executor="tests.nightly.crashing:execute")
    assert [r.status for r in summary.results] == [
        CellStatus.CRASHED,
        CellStatus.ERROR,
        CellStatus.HEALTHY,
    ]
    assert summary.results[0].message == "the worker died (exit 9)"
    assert summary.results[1].message == "internal error: RuntimeError('host bug')"


def test_closing_a_worker_ends_its_process(write_config, modules):
    config = load_config(write_config(["modules/hello"]))
    task = Task(
        run_id="r",
        module="m",
        path=modules / "hello",
        digest="d",
        cell=Cell(axes=()),
        config=config,
    )
    worker = Worker()
    assert worker.run(task, 60).status is CellStatus.HEALTHY
    pid = worker.pid
    worker.close()
    worker.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_rounds_pool_samples_and_keep_the_worst_status():
    from sandbench.nightly.runner import merge_rounds

    from .conftest import result

    rounds = [
        result("n", samples=[1.0, 2.0], findings=("a",)),
        result("n", samples=[3.0], status=CellStatus.DEGRADED, findings=("a", "b")),
    ]
    merged = merge_rounds(rounds)
    assert merged.status is CellStatus.DEGRADED
    assert merged.samples["health.latency_ms"] == [1.0, 2.0, 3.0]
    assert [f.fingerprint for f in merged.findings] == ["a", "b"]
    assert merged.elapsed_ms == 2.0
    timeout = result("n", status=CellStatus.TIMEOUT)
    assert merge_rounds([rounds[0], timeout]) == timeout


@pytest.mark.parametrize("mode", ["check", "gate"])
def test_archives_run_in_both_modes(write_config, modules, sqlite_store, tmp_path, mode):
    import tarfile

    with tarfile.open(tmp_path / "hello.tar.gz", "w:gz") as tar:
        tar.add(modules / "hello", arcname="hello")
    config = load_config(write_config(["hello.tar.gz"], extra="", calls=2))
    config = config.model_copy(update={"mode": mode, "rounds": 1})
    summary = run(config, sqlite_store, "n1")
    assert [(r.module, r.status) for r in summary.results] == [("hello.tar.gz", CellStatus.HEALTHY)]
    report = json.loads(sqlite_store.results("n1")[0].report)
    scanned = {s["scanner"] for s in report["scans"]}
    assert ("bandit" in scanned) is (mode == "gate")


@pytest.mark.parametrize(("precision", "rounds"), [(1e-9, 4), (50.0, 2)])
def test_the_sampler_stops_at_the_cap_or_once_precise(
    write_config, modules, sqlite_store, precision, rounds
):
    # an unreachable precision runs every round up to the cap; a loose one stops at min_rounds
    extra = '[baselines]\n"modules/hello" = "modules/hello-reactor"\n'
    config = load_config(write_config(["modules/hello"], calls=5, extra=extra))
    config = config.model_copy(
        update={"rounds": 4, "min_rounds": 2, "precision": precision, "pairing": "rounds"}
    )
    run(config, sqlite_store, "n1")
    (hello,) = sqlite_store.results("n1")
    assert {metric: len(v) for metric, v in hello.samples.items()} == {
        "health.latency_ms": rounds * 5,
        "health.cpu_ms": rounds * 5,
        "baseline:health.latency_ms": rounds * 5,
        "baseline:health.cpu_ms": rounds * 5,
        "load.cold_ms": rounds,
        "baseline:load.cold_ms": rounds,
    }
    assert hello.digest == source_digest(modules / "hello")  # the candidate's, not the baseline's
    # a WASM cell is judged on CPU time per call; the night's paired ratios are stored
    assert hello.primary == "health.cpu_ms"
    assert set(hello.intervals) == {"health.latency_ms", "health.cpu_ms"}  # cold: too few
    assert len(hello.round_medians["health.cpu_ms"]) == rounds  # one pair of medians a round
    for interval in hello.intervals.values():
        assert 0 < interval.low <= interval.estimate <= interval.high


@pytest.mark.parametrize(("precision", "stopped"), [(1e-9, "blocks"), (50.0, "precise")])
def test_a_baseline_paired_by_calls_runs_beside_its_candidate_in_blocks(
    write_config, modules, sqlite_store, precision, stopped
):
    # the default pairing: one run of the cell, the baseline loaded beside the candidate
    extra = '[baselines]\n"modules/hello" = "modules/hello-reactor"\n'
    config = load_config(write_config(["modules/hello"], calls=5, extra=extra))
    assert config.pairing == "calls"
    config = config.model_copy(update={"precision": precision, "max_blocks": 20})
    run(config, sqlite_store, "n1")
    (hello,) = sqlite_store.results("n1")
    assert len(hello.samples["health.cpu_ms"]) == 5  # the candidate's check: one run
    assert not [m for m in hello.samples if m.startswith("baseline:")]
    pairing = hello.pairing
    assert (pairing.unit, pairing.calls, pairing.stopped) == ("block", 8, stopped)
    # an unreachable precision runs to the count cap; a loose one stops at the 16th block
    assert pairing.pairs == (20 if stopped == "blocks" else 16)
    assert len(hello.round_medians["health.cpu_ms"]) == pairing.pairs
    assert len(hello.round_medians["health.latency_ms"]) == pairing.pairs
    assert hello.primary == "health.cpu_ms"
    assert set(hello.intervals) == {"health.latency_ms", "health.cpu_ms"}
    for interval in hello.intervals.values():
        assert 0 < interval.low <= interval.estimate <= interval.high


def test_a_baseline_that_fails_leaves_the_cell_unpaired_for_the_night(
    write_config, modules, sqlite_store
):
    extra = '[baselines]\n"modules/hello" = "modules/spin"\n'
    config = load_config(write_config(["modules/hello"], calls=5, extra=extra))
    run(config, sqlite_store, "n1")
    (hello,) = sqlite_store.results("n1")
    assert hello.status.value == "healthy"  # the candidate's own check
    assert hello.pairing.stopped == "failed"
    assert hello.pairing.failure.startswith("the baseline failed a call: ")
    assert (hello.pairing.pairs, hello.round_medians, hello.intervals) == (0, {}, {})


def test_cells_naming_one_baseline_share_its_run_of_each_round(write_config, modules, sqlite_store):
    extra = (
        '[baselines]\n"modules/hello" = "modules/hello"\n'
        '"modules/hello-reactor" = "modules/hello"\n'
    )
    config = load_config(
        write_config(["modules/hello", "modules/hello-reactor"], calls=5, extra=extra)
    )
    config = config.model_copy(update={"rounds": 2, "min_rounds": 2, "pairing": "rounds"})
    run(config, sqlite_store, "n1")
    hello, reactor = sqlite_store.results("n1")
    shared = hello.samples["baseline:health.latency_ms"]
    assert len(shared) == 10  # one baseline run a round, both cells paired with it
    assert reactor.samples["baseline:health.latency_ms"] == shared
    assert hello.samples["health.latency_ms"] != reactor.samples["health.latency_ms"]


def test_a_cell_runs_beside_the_cell_of_its_axis_previous_value(
    write_config, modules, sqlite_store
):
    extra = '[profiles.small]\ndefaults = { memory = "16MiB" }\n[baseline_axes.profile]\nsmall = "default"\n'
    matrix = 'profile = ["default", "small"]'
    config = load_config(write_config(["modules/hello"], calls=5, matrix=matrix, extra=extra))
    config = config.model_copy(update={"rounds": 1})
    run(config, sqlite_store, "n1")
    by_cell = {r.cell: r for r in sqlite_store.results("n1")}
    assert "baseline:health.cpu_ms" not in by_cell["profile=default"].samples
    small = by_cell["profile=small"]
    assert len(small.samples["baseline:health.cpu_ms"]) == 5  # the default cell's calls
    assert set(small.intervals) == {"health.latency_ms", "health.cpu_ms"}
