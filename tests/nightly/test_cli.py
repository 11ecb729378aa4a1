"""`sandbench nightly` end to end: CONFIG.toml, summary, regressions, shards, merge, publish."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbench.cli import cli
from sandbench.nightly import open_store


def invoke(*args):
    return CliRunner().invoke(cli, ["nightly", *args], catch_exceptions=False)


def test_a_night_writes_history_and_summary_then_a_worse_night_exits_1(
    write_config, modules, tmp_path
):
    config = write_config(["modules/hello", "modules/hello-reactor"])
    summary = tmp_path / "s1.json"
    first = invoke(str(config), "--run-id", "n1", "--summary", str(summary))
    assert first.exit_code == 0, first.output
    assert "[2/2] modules/hello-reactor [backend=wasm]: healthy" in first.output
    data = json.loads(summary.read_text())
    assert (data["cells"], data["ran"], data["byStatus"]) == (2, 2, {"healthy": 2})
    # the next night, hello's manifest changed after signing: its signature no longer matches
    manifest = modules / "hello" / "module.json"
    raw = json.loads(manifest.read_text())
    raw["security"]["limits"]["memory"] = "2GiB"
    manifest.write_text(json.dumps(raw))
    second = invoke(
        str(config), "--run-id", "n2", "--summary", str(tmp_path / "s2.json"), "--quiet"
    )
    assert second.exit_code == 1
    assert "1 regression(s)" in second.output  # one baseline night: no performance verdicts yet
    regressions = json.loads((tmp_path / "s2.json").read_text())["regressions"]
    assert [(r["module"], r["kind"]) for r in regressions] == [("modules/hello", "status")]
    listed = invoke("regressions", "--db", str(tmp_path / "history.db"))
    assert listed.exit_code == 1
    assert json.loads(listed.output.splitlines()[0])["message"].startswith(
        "healthy -> critical: signature"
    )


def test_shards_into_files_then_merge_equal_one_run(write_config, modules, tmp_path):
    config = write_config(
        ["modules/*"],
        matrix='backend = ["wasm"]\nprofile = ["default", "p"]',
        extra='[profiles.p]\ndefaults = { cpu = "500m" }\n',
    )
    for i in range(3):
        result = invoke(
            str(config),
            "--run-id",
            "n1",
            "--shard",
            f"{i}/3",
            "--db",
            str(tmp_path / f"s{i}.db"),
            "--summary",
            str(tmp_path / f"sum{i}.json"),
            "--quiet",
        )
        assert result.exit_code == 0, result.output
    merged = invoke(
        "merge", str(tmp_path / "all.db"), *(str(tmp_path / f"s{i}.db") for i in range(3))
    )
    assert json.loads(merged.output) == {"added": 6, "alreadyPresent": 0}
    with open_store(tmp_path / "all.db") as store:
        cells = {(r.module, r.cell) for r in store.results("n1")}
    assert len(cells) == 6
    assert {json.loads((tmp_path / f"sum{i}.json").read_text())["shard"] for i in range(3)} == {
        "0/3",
        "1/3",
        "2/3",
    }


def test_bad_input_is_one_line_and_exit_2(tmp_path, write_config, modules):
    missing = CliRunner().invoke(cli, ["nightly", str(tmp_path / "none.toml")])
    assert missing.exit_code == 2
    assert (
        missing.output.strip()
        == f"sandbench: error: {tmp_path / 'none.toml'}: cannot be read: No such file or directory"
    )
    shard = CliRunner().invoke(
        cli, ["nightly", str(write_config(["modules/hello"])), "--shard", "4/4"]
    )
    assert shard.exit_code == 2
    assert "--shard: '4/4' is invalid" in shard.output
    same = CliRunner().invoke(cli, ["nightly", "merge", "a.db", "a.db"])
    assert same.exit_code == 2
    assert "is the target itself" in same.output


def test_publish_writes_grid_regressions_and_module_pages(write_config, modules, tmp_path):
    config = write_config(["modules/hello", "modules/spin"])
    for night in ("n1", "n2"):
        invoke(
            str(config), "--run-id", night, "--quiet", "--summary", str(tmp_path / f"{night}.json")
        )
    result = invoke(
        "publish", "--db", str(tmp_path / "history.db"), "--out", str(tmp_path / "site")
    )
    assert result.exit_code == 0
    assert "wrote 4 pages" in result.output
    grid = (tmp_path / "site" / "index.html").read_text()
    assert "Nightly n2: compatibility" in grid
    assert ">critical</span>" in grid
    assert ">healthy</span>" in grid
    assert len(list((tmp_path / "site" / "modules").glob("*.html"))) == 2


def test_publish_shows_only_the_latest_nights_asked_for(write_config, modules, tmp_path):
    config = write_config(["modules/hello"])
    for night in ("n1", "n2", "n3"):
        invoke(
            str(config), "--run-id", night, "--quiet", "--summary", str(tmp_path / f"{night}.json")
        )
    site = tmp_path / "site"
    result = invoke(
        "publish", "--db", str(tmp_path / "history.db"), "--out", str(site), "--nights", "2"
    )
    assert "wrote 3 pages" in result.output
    assert "(2 nights, " in result.output
    page = next((site / "modules").glob("*.html")).read_text()
    assert "<th>n2</th><th>n3</th>" in page
    assert "n1" not in page


def test_publish_and_regressions_read_the_config_s_store_when_db_is_absent(
    write_config, modules, tmp_path, monkeypatch
):
    config = write_config(["modules/hello"])
    invoke(str(config), "--run-id", "n1", "--quiet", "--summary", str(tmp_path / "n1.json"))
    elsewhere = tmp_path / "elsewhere"  # the store is relative to the config, not to here
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("SANDBENCH_NIGHTLY_DB", raising=False)
    listed = invoke("regressions", "--config", str(config))
    assert listed.exit_code == 0, listed.output
    assert "0 regression(s) in n1" in listed.output
    monkeypatch.setenv("SANDBENCH_NIGHTLY_CONFIG", str(config))
    published = invoke("publish", "--out", "site")
    assert published.exit_code == 0, published.output
    assert "(1 nights, 0 regressions)" in published.output
    assert sorted(p.name for p in elsewhere.iterdir()) == ["site"], "no store made here"
    monkeypatch.delenv("SANDBENCH_NIGHTLY_CONFIG")
    neither = CliRunner().invoke(cli, ["nightly", "regressions"])
    assert neither.exit_code == 2
    assert "give --db (or SANDBENCH_NIGHTLY_DB) or --config CONFIG.toml" in neither.output


@pytest.mark.postgres
def test_shards_running_at_once_share_one_postgresql(write_config, modules, tmp_path, pg_url):
    for i in range(6):
        shutil.copytree(modules / "hello", modules / f"copy-{i}")
    config = write_config(["modules/*"])
    sandbench = Path(sys.executable).parent / "sandbench"
    shards = [
        subprocess.Popen(
            [
                sandbench,
                "nightly",
                str(config),
                "--run-id",
                "n1",
                "--shard",
                f"{i}/3",
                "--db",
                pg_url,
                "--summary",
                str(tmp_path / f"sum{i}.json"),
                "--quiet",
            ],
            stdout=subprocess.DEVNULL,
        )
        for i in range(3)
    ]
    assert [p.wait(timeout=300) for p in shards] == [0, 0, 0]
    with open_store(pg_url) as store:
        stored = store.results("n1")
    assert sorted(r.module for r in stored) == sorted(
        ["modules/hello", "modules/hello-reactor", "modules/spin"]
        + [f"modules/copy-{i}" for i in range(6)]
    )
    ran = sum(json.loads((tmp_path / f"sum{i}.json").read_text())["ran"] for i in range(3))
    assert ran == 9
