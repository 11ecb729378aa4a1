"""The history: every cell result in SQLite (a file) or PostgreSQL (a URL), one schema.

Migrations are numbered; each store applies the missing ones under a lock (SQLite's
`BEGIN IMMEDIATE`, PostgreSQL's advisory lock), so several shards starting at once
migrate exactly once. A result is one row keyed by (run, module, digest, cell) and
written with `ON CONFLICT DO NOTHING`: concurrent writers never overwrite or lose a row.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sandbench.errors import StoreError

from .models import CellResult

__all__ = ["MIGRATIONS", "HistoryStore", "SqlStore", "merge", "open_store"]

# Append only: a released migration is never edited.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            started_at TEXT NOT NULL
        )""",
        """CREATE TABLE results (
            run_id TEXT NOT NULL REFERENCES runs (run_id),
            module TEXT NOT NULL,
            digest TEXT NOT NULL,
            cell TEXT NOT NULL,
            module_id TEXT NOT NULL,
            version TEXT NOT NULL,
            status TEXT NOT NULL,
            message TEXT NOT NULL,
            elapsed_ms DOUBLE PRECISION NOT NULL,
            samples TEXT NOT NULL,
            findings TEXT NOT NULL,
            report TEXT,
            recorded_at TEXT NOT NULL,
            PRIMARY KEY (run_id, module, digest, cell)
        )""",
    ),
    ("CREATE INDEX results_by_module_cell ON results (module, cell, run_id)",),
    (  # the judged metric and the night's paired intervals; older rows: '' and {}
        "ALTER TABLE results ADD COLUMN primary_metric TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE results ADD COLUMN intervals TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE results ADD COLUMN round_medians TEXT NOT NULL DEFAULT '{}'",
    ),
    (  # how the night was paired (blocks of calls or rounds); older rows: '' (none said)
        "ALTER TABLE results ADD COLUMN pairing TEXT NOT NULL DEFAULT ''",
    ),
)

_PG_LOCK = 727_007  # advisory lock id for migrations


class HistoryStore(Protocol):
    """Where nightly results live. The caller closes it (`with` or `close()`)."""

    def record(self, result: CellResult) -> bool:
        """Store one result; False when it was already there (nothing is overwritten)."""

    def done(self, run_id: str) -> set[tuple[str, str, str]]:
        """(module, digest, cell) of every result stored for `run_id`."""

    def runs(self) -> list[str]:
        """Run ids, oldest first."""

    def results(self, run_id: str | None = None) -> list[CellResult]:
        """Every result of `run_id` (or of all runs), in a stable order."""

    def close(self) -> None:
        """Release the connection; harmless twice."""


class SqlStore:
    """`HistoryStore` over a DB-API connection: sqlite3 or psycopg. See `HistoryStore`."""

    def __init__(self, conn: Any, dialect: str, where: str) -> None:
        self._conn: Any = conn
        self.dialect = dialect
        self.where = where
        self._migrate()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """See `HistoryStore.close`."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def schema_version(self) -> int:
        """How many migrations this store has applied."""
        rows = self._query("SELECT MAX(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    def record(self, result: CellResult) -> bool:
        """See `HistoryStore.record`."""
        # The table's columns are the field names (SQL's snake_case), not the JSON's keys.
        row = result.model_dump(mode="json", by_alias=False)
        with self._transaction():
            self._execute(
                "INSERT INTO runs (run_id, started_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (result.run_id, row["recorded_at"]),
            )
            cur = self._execute(
                "INSERT INTO results (run_id, module, digest, cell, module_id, version, status,"
                " message, elapsed_ms, samples, findings, report, recorded_at, primary_metric,"
                " intervals, round_medians, pairing)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (
                    result.run_id,
                    result.module,
                    result.digest,
                    result.cell,
                    result.module_id,
                    result.version,
                    result.status.value,
                    result.message,
                    result.elapsed_ms,
                    _json(row["samples"]),
                    _json(row["findings"]),
                    result.report,
                    row["recorded_at"],
                    result.primary,
                    _json(row["intervals"]),
                    _json(row["round_medians"]),
                    "" if result.pairing is None else _json(row["pairing"]),
                ),
            )
            return bool(cur.rowcount == 1)

    def done(self, run_id: str) -> set[tuple[str, str, str]]:
        """See `HistoryStore.done`."""
        rows = self._query("SELECT module, digest, cell FROM results WHERE run_id = ?", (run_id,))
        return {(r[0], r[1], r[2]) for r in rows}

    def runs(self) -> list[str]:
        """See `HistoryStore.runs`."""
        return [r[0] for r in self._query("SELECT run_id FROM runs ORDER BY started_at, run_id")]

    def results(self, run_id: str | None = None) -> list[CellResult]:
        """See `HistoryStore.results`."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM results"  # noqa: S608 - constant column names
        params: tuple[str, ...] = ()
        if run_id is not None:
            sql, params = sql + " WHERE run_id = ?", (run_id,)
        rows = self._query(sql + " ORDER BY run_id, module, cell, digest", params)
        return [_result(row) for row in rows]

    # -- plumbing -------------------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self._conn is None:
            raise StoreError(f"{self.where}: the history store is closed")
        return self._conn.execute(self._sql(sql), tuple(params))

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._transaction():
            return list(self._execute(sql, params).fetchall())

    @contextmanager
    def _transaction(self, *, exclusive: bool = False) -> Iterator[None]:
        if self.dialect == "sqlite":
            self._execute("BEGIN IMMEDIATE" if exclusive else "BEGIN")
            try:
                yield
            except BaseException:
                self._execute("ROLLBACK")
                raise
            self._execute("COMMIT")
        else:
            with self._conn.transaction():
                yield

    def _migrate(self) -> None:
        with self._transaction(exclusive=True):
            if self.dialect == "postgresql":
                self._execute("SELECT pg_advisory_xact_lock(?)", (_PG_LOCK,))
            self._execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            current = int(
                self._execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] or 0
            )
            if current > len(MIGRATIONS):
                raise StoreError(
                    f"{self.where}: history schema version {current} is newer than this "
                    f"sandbench knows ({len(MIGRATIONS)}); upgrade sandbench"
                )
            for version in range(current + 1, len(MIGRATIONS) + 1):
                for statement in MIGRATIONS[version - 1]:
                    self._execute(statement)
                self._execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, datetime.now(UTC).isoformat()),
                )


_COLUMNS = (
    "run_id",
    "module",
    "digest",
    "cell",
    "module_id",
    "version",
    "status",
    "message",
    "elapsed_ms",
    "samples",
    "findings",
    "report",
    "recorded_at",
    "primary_metric",
    "intervals",
    "round_medians",
    "pairing",
)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _result(row: Sequence[Any]) -> CellResult:
    data = dict(zip(_COLUMNS, row, strict=True))
    data["samples"] = json.loads(data["samples"])
    data["findings"] = json.loads(data["findings"])
    data["primary"] = data.pop("primary_metric")
    data["intervals"] = json.loads(data["intervals"])
    data["round_medians"] = json.loads(data["round_medians"])
    data["pairing"] = json.loads(data["pairing"]) if data["pairing"] else None
    return CellResult.model_validate(data)


def open_store(where: str | Path) -> SqlStore:
    """A SQLite file path, or a `postgresql://` URL. Raises `StoreError` with what to do."""
    text = str(where)
    if text.startswith(("postgresql://", "postgres://")):
        return _open_postgres(text)
    path = Path(text.removeprefix("sqlite:///"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves; the timeout waits for
        # other shards' write locks instead of failing with "database is locked".
        conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=60000")
        return SqlStore(conn, "sqlite", str(path))
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"{path}: cannot open the history database: {exc}") from None


def _open_postgres(url: str) -> SqlStore:
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            "a postgresql:// history needs psycopg; pip install 'sandbench[postgres]'"
        ) from None
    safe = url.split("@")[-1]  # never print a password
    try:
        conn = psycopg.connect(url, connect_timeout=10, autocommit=True)
        return SqlStore(conn, "postgresql", f"postgresql://…@{safe}")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(
            f"postgresql://…@{safe}: cannot use the history database: {first}"
        ) from None


def merge(target: HistoryStore, sources: Sequence[str | Path]) -> tuple[int, int]:
    """Copy every result of `sources` (shard files) into `target`: (added, already there)."""
    added = already = 0
    for source in sources:
        if not Path(source).is_file() and "://" not in str(source):
            raise StoreError(f"{source}: no such history file")
        with open_store(source) as store:
            for result in store.results():
                if target.record(result):
                    added += 1
                else:
                    already += 1
    return added, already
