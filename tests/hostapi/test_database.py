"""The database capability on SQLite files: grants, read-only, and the tricks that reach out."""

from __future__ import annotations

import json

import pytest

from sandbench.hostapi import Code, Database, SqliteEngine


@pytest.fixture
def folder(tmp_path):
    seed = Database([], ["vendas"], SqliteEngine(tmp_path), _Null())
    seed.execute("vendas", b"CREATE TABLE orders (sku TEXT, qty INTEGER, blob BLOB)", b"", 4096)
    seed.execute("vendas", b"INSERT INTO orders VALUES (?, ?, ?)", b'["CAFE", 2, null]', 4096)
    seed.close()
    other = Database([], ["rh"], SqliteEngine(tmp_path), _Null())
    other.execute("rh", b"CREATE TABLE salaries (name TEXT, cents INTEGER)", b"", 4096)
    other.execute("rh", b"INSERT INTO salaries VALUES ('ana', 100000)", b"", 4096)
    other.close()
    return tmp_path


class _Null:
    """A recorder that keeps nothing, for seeding."""

    def call(self, *args, **kwargs):
        return args[3]


def rows(result):
    assert result.code is Code.OK, result
    return json.loads(result.data)


@pytest.fixture
def reader(folder, recorder):
    database = Database(["vendas"], [], SqliteEngine(folder, timeout_s=0.3), recorder)
    yield database
    database.close()


@pytest.fixture
def writer(folder, recorder):
    database = Database([], ["vendas"], SqliteEngine(folder, timeout_s=0.3), recorder)
    yield database
    database.close()


def test_query_returns_columns_and_rows_with_bound_parameters(reader, recorder):
    result = rows(
        reader.query("vendas", b"SELECT sku, qty FROM orders WHERE qty > ?", b"[1]", 4096)
    )
    assert result == {"columns": ["sku", "qty"], "rows": [["CAFE", 2]]}
    assert recorder.drain().calls[0].target == "vendas"


def test_parameters_are_data_never_sql(writer):
    evil = json.dumps(["x'); DROP TABLE orders; --", 1, None]).encode()
    assert rows(writer.execute("vendas", b"INSERT INTO orders VALUES (?, ?, ?)", evil, 4096)) == {
        "rowcount": 1
    }
    assert rows(writer.query("vendas", b"SELECT count(*) FROM orders", b"", 4096))["rows"] == [[2]]


def test_blobs_come_back_as_base64(writer):
    writer.execute("vendas", b"INSERT INTO orders VALUES ('B', 1, x'00ff')", b"", 4096)
    result = rows(writer.query("vendas", b"SELECT blob FROM orders WHERE sku = 'B'", b"", 4096))
    assert result["rows"] == [["AP8="]]


@pytest.mark.parametrize(
    ("call", "sql"),
    [
        ("execute", "INSERT INTO orders VALUES ('x', 1, null)"),
        ("query", "INSERT INTO orders VALUES ('x', 1, null) RETURNING sku"),
        ("query", "DELETE FROM orders RETURNING sku"),
        ("query", "CREATE TABLE evil (x)"),
    ],
)
def test_read_grant_cannot_write(reader, recorder, call, sql):
    assert getattr(reader, call)("vendas", sql.encode(), b"", 4096).code is Code.DENIED
    assert recorder.drain().denied[0].capability == "database"


@pytest.mark.parametrize(
    "sql",
    [
        "ATTACH DATABASE 'rh.sqlite3' AS rh",
        "SELECT * FROM rh.salaries",
        "SELECT * FROM temp.sqlite_master",
        "PRAGMA writable_schema = 1",
        "PRAGMA table_info(orders)",
        "SELECT load_extension('/tmp/evil.so')",
        "CREATE TEMP TABLE t (x)",
        "CREATE VIRTUAL TABLE v USING fts5(x)",
        "DETACH DATABASE main",
    ],
)
def test_tricks_that_reach_outside_the_schema_are_denied(writer, recorder, sql):
    result = writer.query("vendas", sql.encode(), b"", 4096)
    assert result.code is Code.DENIED, result
    (call,) = recorder.drain().denied
    assert (call.capability, call.target) == ("database", "vendas")


def test_ungranted_schema_is_denied(writer, recorder):
    assert writer.query("rh", b"SELECT * FROM salaries", b"", 4096).code is Code.DENIED
    (call,) = recorder.drain().denied
    assert call.target == "rh"
    assert "no database permission" in call.detail


def test_several_statements_in_one_call_are_refused(writer):
    result = writer.execute("vendas", b"DELETE FROM orders; DROP TABLE orders", b"", 4096)
    assert result.code is Code.BAD_ARGUMENT
    assert rows(writer.query("vendas", b"SELECT count(*) FROM orders", b"", 4096))["rows"] == [[1]]


def test_runaway_query_hits_the_time_cap(reader):
    sql = b"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    assert reader.query("vendas", sql, b"", 4096).code is Code.TIMEOUT


def test_result_over_the_cap_is_too_large(writer):
    sql = b"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 1000) SELECT i FROM n"
    assert writer.query("vendas", sql, b"", 256).code is Code.TOO_LARGE


@pytest.mark.parametrize(
    ("sql", "params"), [(b"\xff", b""), (b"SELECT 1", b"{}"), (b"SELECT 1", b"[")]
)
def test_bad_sql_or_parameters(writer, sql, params):
    assert writer.query("vendas", sql, params, 4096).code is Code.BAD_ARGUMENT


def test_syntax_errors_fail(writer):
    assert writer.query("vendas", b"SELEKT 1", b"", 4096).code is Code.FAILED


def test_unreachable_postgres_is_a_failed_call_not_a_trap(recorder):
    from sandbench.hostapi.postgres import PostgresEngine

    engine = PostgresEngine("postgresql://nobody:x@127.0.0.1:1/none?connect_timeout=2")
    database = Database(["vendas"], [], engine, recorder)
    assert database.query("vendas", b"SELECT 1", b"", 4096).code is Code.FAILED
    (call,) = recorder.drain().calls
    assert call.detail.startswith("PostgreSQL: cannot prepare schema 'vendas'")
    database.close()
