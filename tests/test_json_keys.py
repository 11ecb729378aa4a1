"""One key style across sandbench's JSON documents: camelCase, as the health report's.

The documents under tests/assets/json-0.1/ were written by sandbench 0.1 before the switch
(snake_case keys: `sandbench scan -f json`, the `bench` part of `bench -f json`, a nightly
summary, `nightly regressions` lines, a compile record, a nightly history as SQL): each must
still load, and a document written now must say the same in camelCase.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from sandbench.bench.result import BenchResult
from sandbench.cli import cli
from sandbench.manifests import load
from sandbench.nightly import Regression, detect, open_store
from sandbench.nightly.runner import RunSummary
from sandbench.reports import HealthReport
from sandbench.sandbox import Grants, SandboxLimits
from sandbench.sandbox.compile_record import CompileRecord, read_record
from sandbench.sandbox.wasm import WasmBackend
from sandbench.scanners import ScanReport
from tests.conftest import EXAMPLES

OLD = Path(__file__).parent / "assets" / "json-0.1"
CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
DOCUMENTS: list[type[BaseModel]] = [
    HealthReport,
    ScanReport,
    BenchResult,
    RunSummary,
    Regression,
    CompileRecord,
]


def _keys(schema: dict[str, Any]) -> set[str]:
    """Every property name of the schema and of each model it refers to."""
    models = [schema, *schema.get("$defs", {}).values()]
    return {key for model in models for key in model.get("properties", {})}


@pytest.mark.parametrize("model", DOCUMENTS, ids=lambda m: m.__name__)
def test_every_document_writes_camel_case_keys_only(model):
    keys = _keys(model.model_json_schema(by_alias=True, mode="serialization"))
    assert keys, "the schema lists the document's keys"
    assert sorted(k for k in keys if not CAMEL.match(k)) == []


def _old_and_new(model: type[BaseModel], old: Any) -> tuple[BaseModel, dict[str, Any]]:
    loaded = model.model_validate(old)
    written = json.loads(loaded.model_dump_json())
    assert model.model_validate(written) == loaded, "the camelCase document reads back the same"
    return loaded, written


def test_an_old_scan_report_loads():
    old = json.loads((OLD / "scan.json").read_text())
    report, written = _old_and_new(ScanReport, old)
    assert report.module_id == old["module_id"] == written["moduleId"] == "@examples/hello"
    assert written["results"][0]["skippedReason"] is None
    assert written["scannedAt"].startswith(old["scanned_at"][:19])
    assert "module_id" not in written


def test_an_old_bench_result_loads():
    old = json.loads((OLD / "bench.json").read_text())
    result, written = _old_and_new(BenchResult, old)
    assert result.load_test is not None
    assert written["loadTest"]["achievedRps"] == old["load_test"]["achieved_rps"]
    assert written["loadTest"]["config"]["durationS"] == 1.0
    assert written["loads"]["warmMs"] == old["loads"]["warm_ms"]
    assert set(written["server"][0]) == {"t", "cpuPercent", "rssBytes", "machineCpuPercent",
                                         "busiestPercent"}  # fmt: skip


def test_an_old_nightly_summary_and_regression_lines_load():
    old = json.loads((OLD / "nightly-summary.json").read_text())
    summary, written = _old_and_new(RunSummary, old)
    assert (summary.run_id, written["runId"], written["byStatus"]) == ("n2", "n2", {"critical": 1})
    assert written["results"][0]["elapsedMs"] == old["results"][0]["elapsed_ms"]
    lines = (OLD / "regressions.jsonl").read_text().splitlines()
    [regression] = [Regression.model_validate_json(line) for line in lines]
    assert regression.run_id == "n2"
    assert regression.message == "healthy -> critical: signature"


def test_an_old_compile_record_is_used_on_a_cache_hit(tmp_path):
    package = load(EXAMPLES / "hello")
    with WasmBackend(tmp_path) as backend:
        backend.load(package, SandboxLimits(), Grants()).instance.close()
        [path] = (tmp_path / "wasm").glob("*.compile.json")
        assert set(json.loads(path.read_text())) == {"compileMs", "engine", "measuredAt"}
        old = json.loads((OLD / "compile-record.json").read_text())
        path.write_text(json.dumps({**old, "engine": backend.describe()}))
        hit = backend.load(package, SandboxLimits(), Grants())
        hit.instance.close()
    artifact = path.with_name(path.name.removesuffix(".compile.json"))
    assert read_record(artifact, backend.describe()) == hit.compiled
    assert hit.compiled is not None
    assert hit.compiled.compile_ms == old["compile_ms"]


def _old_history(tmp_path: Path) -> Path:
    """The history sandbench 0.1 wrote over two nights of examples/modules/hello (the
    second with its limits changed after signing), restored from its SQL dump."""
    db = tmp_path / "history.db"
    conn = sqlite3.connect(db)
    with conn:
        conn.executescript((OLD / "history.sql").read_text())
    conn.close()
    return db


def test_an_old_nightly_history_loads_and_is_judged(tmp_path):
    db = _old_history(tmp_path)
    with open_store(db) as store:
        assert store.runs() == ["n1", "n2"]
        [night] = store.results("n1")
        [regression] = detect(store, "n2")
    assert night.samples["health.latency_ms"], "metric names are data, not keys: unchanged"
    assert regression.message == "healthy -> critical: signature"
    listed = CliRunner().invoke(cli, ["nightly", "regressions", "--db", str(db)])
    assert listed.exit_code == 1
    line = json.loads(listed.stdout.splitlines()[0])
    assert (line["runId"], line["kind"]) == ("n2", "status")


def test_scan_and_merge_print_camel_case(tmp_path):
    scanned = CliRunner().invoke(cli, ["scan", str(EXAMPLES / "hello"), "-f", "json"])
    assert scanned.exit_code == 0, scanned.output
    document = json.loads(scanned.stdout)
    assert {"moduleId", "expiredIgnores", "failOn", "elapsedMs", "scannedAt"} <= set(document)
    assert {"skippedReason", "elapsedMs"} <= set(document["results"][0])
    old = json.loads((OLD / "merge.json").read_text())
    assert set(old) == {"added", "already_present"}
    db = _old_history(tmp_path)
    merged = CliRunner().invoke(cli, ["nightly", "merge", str(tmp_path / "all.db"), str(db)])
    assert json.loads(merged.stdout) == {"added": 2, "alreadyPresent": 0}
