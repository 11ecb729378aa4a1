"""The history store on real SQLite and real PostgreSQL: schema, migrations, concurrency."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from sandbench.errors import StoreError
from sandbench.nightly import CellStatus, open_store
from sandbench.nightly.models import Pairing
from sandbench.nightly.stats import Shift
from sandbench.nightly.store import MIGRATIONS, merge

from .conftest import result

WRITER = """
import sys
from sandbench.nightly import open_store
from tests.nightly.conftest import result
where, shard, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open_store(where) as store:
    for i in range(count):
        assert store.record(result("night", f"mod-{shard}-{i}", samples=[1.0, 2.0]))
"""


def test_a_result_round_trips_with_samples_and_findings(any_store):
    stored = result("n1", samples=[1.5, 2.5, 3.5], findings=("fp1",), status=CellStatus.DEGRADED)
    assert any_store.record(stored) is True
    assert any_store.results("n1") == [stored]
    assert any_store.done("n1") == {("m", "d1", "backend=wasm")}
    assert any_store.schema_version == len(MIGRATIONS)


def test_the_judged_metric_and_the_nights_intervals_round_trip(any_store):
    stored = result("n1", samples=[1.5, 2.5, 3.5]).model_copy(
        update={
            "primary": "health.cpu_ms",
            "intervals": {"health.cpu_ms": Shift(estimate=1.1, low=1.02, high=1.2)},
            "round_medians": {"health.cpu_ms": [(1.1, 1.0), (2.2, 2.0)]},
        }
    )
    any_store.record(stored)
    assert any_store.results("n1") == [stored]


def test_a_history_from_before_the_judged_metric_still_loads(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
    for version, statements in enumerate(MIGRATIONS[:2], start=1):
        for statement in statements:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, 'then')", (version,))
    conn.execute("INSERT INTO runs VALUES ('n0', '2026-01-01T00:00:00+00:00')")
    conn.execute(
        "INSERT INTO results VALUES ('n0', 'm', 'd', 'c', '', '', 'healthy', '', 1.0,"
        " '{\"health.latency_ms\": [1.0, 2.0]}', '[]', NULL, '2026-01-01T00:00:00+00:00')"
    )
    conn.commit()
    conn.close()
    with open_store(path) as store:
        (old,) = store.results("n0")
        assert store.schema_version == len(MIGRATIONS)
    assert (old.primary, old.intervals, old.round_medians) == ("", {}, {})
    assert old.pairing is None
    assert old.samples == {"health.latency_ms": [1.0, 2.0]}


def test_how_a_night_was_paired_round_trips(any_store):
    pairing = Pairing(unit="block", pairs=24, calls=8, stopped="precise", seconds=0.12,
                      cpu="thread CPU per call, block median")  # fmt: skip
    stored = result("n1", samples=[1.5, 2.5, 3.5]).model_copy(update={"pairing": pairing})
    any_store.record(stored)
    any_store.record(result("n1", module="unpaired", samples=[1.0, 2.0]))
    paired, unpaired = any_store.results("n1")
    assert paired == stored
    assert unpaired.pairing is None


def test_a_stored_result_is_never_overwritten(any_store):
    any_store.record(result("n1", samples=[1.0] * 5))
    assert any_store.record(result("n1", samples=[9.0] * 5)) is False
    assert any_store.results("n1")[0].samples["health.latency_ms"] == [1.0] * 5


def test_runs_are_ordered_by_when_they_started_not_by_name(any_store):
    any_store.record(result("b-night", night=0))
    any_store.record(result("a-night", night=1))
    assert any_store.runs() == ["b-night", "a-night"]


def test_concurrent_writers_lose_nothing(any_store, tmp_path):
    where = any_store.where if any_store.dialect == "sqlite" else _pg_url(any_store)
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, where, str(shard), "40"])
        for shard in range(4)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    modules = {r.module for r in any_store.results("night")}
    assert len(modules) == 160


def _pg_url(store):
    from .conftest import PG_URL

    return PG_URL


def test_an_old_schema_is_migrated_and_a_newer_one_refused(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    conn.executescript(";".join(MIGRATIONS[0]))
    conn.execute("INSERT INTO schema_migrations VALUES (1, 'then')")
    conn.commit()
    with open_store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
    indexes = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")]
    assert "results_by_module_cell" in indexes
    conn.execute("INSERT INTO schema_migrations VALUES (99, 'future')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 99 is newer than this sandbench knows"):
        open_store(path)


def test_merge_copies_shard_files_once(tmp_path):
    for shard in range(2):
        with open_store(tmp_path / f"shard-{shard}.db") as store:
            store.record(result("n1", f"mod-{shard}"))
            store.record(result("n1", "shared"))
    with open_store(tmp_path / "all.db") as target:
        assert merge(target, [tmp_path / "shard-0.db", tmp_path / "shard-1.db"]) == (3, 1)
        assert merge(target, [tmp_path / "shard-0.db"]) == (0, 2)
        assert sorted(r.module for r in target.results("n1")) == ["mod-0", "mod-1", "shared"]
    with pytest.raises(StoreError, match="no such history file"):
        merge(target, [tmp_path / "missing.db"])


def test_an_unreachable_postgresql_is_one_line_without_the_password():
    with pytest.raises(StoreError) as error:
        open_store("postgresql://u:secret@127.0.0.1:1/db?connect_timeout=2")
    assert "secret" not in str(error.value)
    assert "\n" not in str(error.value)
    assert "cannot use the history database" in str(error.value)


def test_a_closed_store_says_so(tmp_path):
    store = open_store(tmp_path / "c.db")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.runs()
