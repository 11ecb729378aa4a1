"""The database capability on a real PostgreSQL server (CI starts one; see .ci/run).

Set SANDBENCH_TEST_POSTGRES_URL to an administrator's URL of a scratch database to run
these locally; without it they are skipped, which CI counts as a failure.
"""

from __future__ import annotations

import json
import os

import psycopg
import pytest

from sandbench.hostapi import Code, Database, HostSettings
from sandbench.hostapi.postgres import PostgresEngine
from sandbench.manifests import load
from sandbench.sandbox import Grants, Request, SandboxLimits
from tests.conftest import EXAMPLES

URL = os.environ.get("SANDBENCH_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(URL is None, reason="SANDBENCH_TEST_POSTGRES_URL is not set")


@pytest.fixture
def schemas():
    assert URL is not None
    with psycopg.connect(URL, autocommit=True) as admin:
        for statement in (
            "DROP SCHEMA IF EXISTS vendas CASCADE",
            "DROP SCHEMA IF EXISTS rh CASCADE",
            "CREATE SCHEMA vendas",
            "CREATE TABLE vendas.orders (sku text, qty int)",
            "INSERT INTO vendas.orders VALUES ('CAFE', 2)",
            "CREATE SCHEMA rh",
            "CREATE TABLE rh.salaries (name text, cents int)",
            "INSERT INTO rh.salaries VALUES ('ana', 100000)",
        ):
            admin.execute(statement)
    return URL


def database(url, recorder, read=(), write=()):
    return Database(read, write, PostgresEngine(url, timeout_s=0.5), recorder)


def rows(result):
    assert result.code is Code.OK, result
    return json.loads(result.data)


def test_read_grant_reads_its_schema_with_bound_parameters(schemas, recorder):
    db = database(schemas, recorder, read=["vendas"])
    try:
        result = rows(
            db.query("vendas", b"SELECT sku, qty FROM orders WHERE qty > %s", b"[1]", 4096)
        )
        assert result == {"columns": ["sku", "qty"], "rows": [["CAFE", 2]]}
    finally:
        db.close()


def test_write_grant_writes_and_parameters_stay_data(schemas, recorder):
    db = database(schemas, recorder, write=["vendas"])
    try:
        evil = json.dumps(["x'); DROP TABLE orders; --", 1]).encode()
        assert rows(db.execute("vendas", b"INSERT INTO orders VALUES (%s, %s)", evil, 4096)) == {
            "rowcount": 1
        }
        assert rows(db.query("vendas", b"SELECT count(*) AS n FROM orders", b"", 4096))["rows"] == [
            [2]
        ]
    finally:
        db.close()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM rh.salaries",
        "SET search_path TO rh",
        "/* hidden */ set search_path = rh, vendas",
        "RESET ROLE",
        "SET ROLE postgres",
        "INSERT INTO orders VALUES ('x', 1) RETURNING sku",
        "CREATE TABLE evil (x int)",
        "SELECT * FROM pg_authid",
        "COPY orders TO PROGRAM 'id'",
        "CREATE TABLE rh.evil (x int)",
    ],
)
def test_read_grant_cannot_reach_out_or_write(schemas, recorder, sql):
    db = database(schemas, recorder, read=["vendas"])
    try:
        assert db.query("vendas", sql.encode(), b"", 4096).code is Code.DENIED
        (call,) = recorder.drain().denied
        assert (call.capability, call.target) == ("database", "vendas")
    finally:
        db.close()


def test_set_config_cannot_open_another_schema(schemas, recorder):
    db = database(schemas, recorder, write=["vendas"])
    try:
        assert db.query("vendas", b"SELECT set_config('search_path', 'rh', false)", b"", 4096).ok
        result = db.query("vendas", b"SELECT * FROM salaries", b"", 4096)
        assert result.code in (Code.DENIED, Code.FAILED)
        assert b"ana" not in result.data
    finally:
        db.close()


def test_several_statements_and_runaways_are_refused(schemas, recorder):
    db = database(schemas, recorder, write=["vendas"])
    try:
        two = db.execute("vendas", b"DELETE FROM orders; DROP TABLE orders", b"", 4096)
        assert two.code is Code.BAD_ARGUMENT
        assert db.query("vendas", b"SELECT pg_sleep(5)", b"", 4096).code is Code.TIMEOUT
        assert rows(db.query("vendas", b"SELECT count(*) FROM orders", b"", 4096))["rows"] == [[1]]
    finally:
        db.close()


def test_hostile_db_example_on_postgres(backend, schemas):
    grants = Grants(host=HostSettings(postgres_url=schemas))
    result = backend.load(load(EXAMPLES / "hostile" / "host-db"), SandboxLimits(), grants)
    with result.instance as instance:
        outcome = instance.invoke(Request())
    assert outcome.ok, outcome.violation
    # ATTACH, PRAGMA and load_extension are SQLite's: PostgreSQL fails them as errors.
    assert [c.code for c in outcome.host.calls] == [
        "denied",  # schema rh
        "denied",  # rh.salaries
        "failed",  # ATTACH
        "failed",  # PRAGMA
        "failed",  # load_extension
        "denied",  # db_execute on a read grant
        "denied",  # CREATE TABLE smuggled into db_query
        "denied",  # SET search_path
    ]
