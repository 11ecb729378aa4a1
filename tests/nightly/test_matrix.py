"""Cells, the axes they apply, and deterministic shards."""

from __future__ import annotations

import pytest

from sandbench.errors import ShardError
from sandbench.nightly import cells, load_config, parse_shard, plan
from sandbench.nightly.matrix import Cell, backend_for, policy_for
from sandbench.sandbox import BackendKind

PROFILES = """
[profiles.small]
defaults = { memory = "16MiB", cpu = "250m" }
ceilings = { timeout = "1s" }
"""


def test_every_combination_is_a_cell_in_config_order(write_config, modules):
    config = load_config(
        write_config(
            ["modules/hello"],
            matrix='backend = ["wasm"]\nprofile = ["default", "small"]',
            extra=PROFILES,
        )
    )
    assert [c.key for c in cells(config)] == [
        "backend=wasm,profile=default",
        "backend=wasm,profile=small",
    ]


def test_a_profile_overrides_defaults_and_ceilings_of_the_policy(write_config, modules):
    config = load_config(
        write_config(["modules/hello"], matrix='profile = ["default", "small"]', extra=PROFILES)
    )
    default, small = (policy_for(c, config) for c in cells(config))
    assert (small.defaults.memory, small.defaults.cpu) == (16 * 2**20, 250)
    assert small.ceilings.timeout == 1000
    assert small.ceilings.memory == default.ceilings.memory
    assert default.defaults.cpu == 1000


def test_a_policy_axis_loads_the_policy_file(write_config, modules, tmp_path):
    (tmp_path / "strict.toml").write_text("version = 1\np95_degraded_ms = 1.0\n")
    config = load_config(write_config(["modules/hello"], matrix='policy = ["strict.toml"]'))
    assert policy_for(cells(config)[0], config).p95_degraded_ms == 1.0


def test_backend_axis_names_a_built_in_backend_or_fails_in_one_line():
    assert backend_for(Cell(axes=(("backend", "wasm"),))) is BackendKind.WASM
    with pytest.raises(ShardError, match=r"matrix\.backend: 'vm' is not built in; expected wasm"):
        backend_for(Cell(axes=(("backend", "vm"),)))


@pytest.mark.parametrize("text", ["1", "2/2", "-1/3", "a/b", "0/0", "1/"])
def test_bad_shards_are_refused_with_the_expected_form(text):
    with pytest.raises(ShardError, match="expected I/N with 0 <= I < N"):
        parse_shard(text)


def test_shards_partition_the_work_exactly_and_deterministically(write_config, modules, tmp_path):
    for i in range(30):
        (modules / f"copy-{i}").mkdir()
    config = load_config(
        write_config(
            ["modules/*"],
            matrix='backend = ["wasm"]\nprofile = ["default", "small"]',
            extra=PROFILES,
        )
    )
    everything = {(t.module, t.cell.key) for t in plan(config, "r", parse_shard("0/1"))}
    parts = [
        [(t.module, t.cell.key) for t in plan(config, "r", parse_shard(f"{i}/3"))] for i in range(3)
    ]
    assert sorted(x for p in parts for x in p) == sorted(
        everything
    )  # each cell in exactly one shard
    assert len(everything) == 66
    assert all(len(p) > 10 for p in parts)  # roughly balanced
    assert parts[1] == [(t.module, t.cell.key) for t in plan(config, "r", parse_shard("1/3"))]
