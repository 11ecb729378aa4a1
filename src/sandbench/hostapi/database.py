"""The `database` capability: SQL against the granted schema only, parameters always bound.

`database:read:SCHEMA` opens read-only connections, `database:write:SCHEMA` read-write
ones. Each call is one statement with its parameters bound by the driver (never formatted
into the text); the statement runs under a time cap and its result under a size cap.

Engines sit behind the `Engine` protocol:

- `SqliteEngine` (the default): one file per schema, `SCHEMA.sqlite3` in a folder. A
  `:read` connection is opened with `mode=ro`; an authorizer callback allows reads (and,
  for `:write`, writes and DDL) on the `main` database only and refuses `ATTACH`,
  `DETACH`, every `PRAGMA`, temporary objects, virtual tables and `load_extension`.
- `PostgresEngine` (`postgres.py`): one login role per schema and access mode, with
  privileges on that schema only, `search_path` pinned to it and
  `default_transaction_read_only` for `:read`.

Results are JSON: `{"columns": [...], "rows": [[...], ...]}` for a query,
`{"rowcount": N}` for a statement; blobs come back as base64 strings.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from sandbench.errors import SandboxError

from .codes import Code, HostResult
from .record import Recorder

__all__ = [
    "Database",
    "DatabaseDenied",
    "DatabaseFailed",
    "Engine",
    "SqliteEngine",
    "encode_rows",
]

MAX_SQL = 64 * 1024


class DatabaseDenied(Exception):
    """The engine refused the statement: it reached outside the grant."""


class DatabaseFailed(Exception):
    """The statement failed for an ordinary reason (syntax, constraint, timeout)."""

    def __init__(self, message: str, code: Code = Code.FAILED) -> None:
        super().__init__(message)
        self.code = code


class Engine(Protocol):
    """Runs one statement in one schema. Implementations map driver errors to the two above."""

    def run(
        self, schema: str, writable: bool, sql: str, params: Sequence[object], cap: int
    ) -> bytes:
        """Run `sql` with `params` bound; the JSON result, at most `cap` bytes.

        Raises `DatabaseDenied` when the statement reaches outside the schema or writes
        through a read grant, `DatabaseFailed` for anything else.
        """
        ...  # pragma: no cover

    def close(self) -> None:
        """Close every connection; closing twice is harmless."""
        ...  # pragma: no cover


def encode_rows(columns: Sequence[str], rows: Iterable[Sequence[object]], cap: int) -> bytes:
    """The JSON result of a query; raises `DatabaseFailed(too-large)` past `cap` bytes."""
    parts = [json.dumps({"columns": list(columns)})[:-1], ', "rows": [']
    size = sum(map(len, parts)) + 2
    for index, row in enumerate(rows):
        text = json.dumps([_plain(value) for value in row])
        size += len(text) + 1
        if size > cap:
            raise DatabaseFailed(f"result over {cap} bytes", Code.TOO_LARGE)
        parts.append(("," if index else "") + text)
    parts.append("]}")
    return "".join(parts).encode()


def _plain(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # decimals, dates, UUIDs from PostgreSQL


class Database:
    """See the module docstring: grant checks and recording in front of an `Engine`."""

    def __init__(
        self,
        read: Iterable[str],
        write: Iterable[str],
        engine: Engine | None,
        recorder: Recorder,
    ) -> None:
        self._write = frozenset(write)
        self._read = frozenset(read) | self._write
        self._engine = engine
        self._recorder = recorder

    def query(self, schema: str, sql: bytes, params: bytes, cap: int) -> HostResult:
        """Run a statement that returns rows (`db_query`); read or write grant."""
        return self._run("query", schema, sql, params, cap, writable=schema in self._write)

    def execute(self, schema: str, sql: bytes, params: bytes, cap: int) -> HostResult:
        """Run a statement that changes data (`db_execute`); needs the write grant."""
        if schema in self._read and schema not in self._write:
            code = self._recorder.call(
                "database", "execute", schema, Code.DENIED, f"database:read:{schema} is read-only"
            )
            return HostResult(code)
        return self._run("execute", schema, sql, params, cap, writable=True)

    def _run(
        self, action: str, schema: str, sql: bytes, params: bytes, cap: int, *, writable: bool
    ) -> HostResult:
        if schema not in self._read or self._engine is None:
            why = f"no database permission for {schema!r}"
            return HostResult(self._recorder.call("database", action, schema, Code.DENIED, why))
        decoded = _decode(sql, params)
        if decoded is None:
            why = "SQL must be UTF-8 and parameters a JSON array"
            return HostResult(
                self._recorder.call("database", action, schema, Code.BAD_ARGUMENT, why)
            )
        try:
            data = self._engine.run(schema, writable, decoded[0], decoded[1], cap)
        except DatabaseDenied as exc:
            return HostResult(
                self._recorder.call("database", action, schema, Code.DENIED, str(exc))
            )
        except DatabaseFailed as exc:
            return HostResult(self._recorder.call("database", action, schema, exc.code, str(exc)))
        except SandboxError as exc:
            # The host's fault (server down, bad URL): `failed` in the module, never a trap
            # that would blame it; the detail says what the host could not do.
            return HostResult(
                self._recorder.call("database", action, schema, Code.FAILED, str(exc))
            )
        self._recorder.call("database", action, schema, Code.OK)
        return HostResult(Code.OK, data)

    def close(self) -> None:
        """Close the engine's connections."""
        if self._engine is not None:
            self._engine.close()


def _decode(sql: bytes, params: bytes) -> tuple[str, list[object]] | None:
    if len(sql) > MAX_SQL:
        return None
    try:
        text = sql.decode("utf-8")
        values = json.loads(params) if params.strip() else []
    except ValueError:
        return None
    if not isinstance(values, list) or "\0" in text:
        return None
    return text, values


# Authorizer actions a statement may take on the `main` database. Everything else —
# ATTACH, DETACH, PRAGMA, temporary objects, virtual tables — is refused.
_READ_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
_WRITE_ACTIONS = _READ_ACTIONS | {
    sqlite3.SQLITE_INSERT,
    sqlite3.SQLITE_UPDATE,
    sqlite3.SQLITE_DELETE,
    sqlite3.SQLITE_CREATE_TABLE,
    sqlite3.SQLITE_CREATE_INDEX,
    sqlite3.SQLITE_CREATE_VIEW,
    sqlite3.SQLITE_CREATE_TRIGGER,
    sqlite3.SQLITE_DROP_TABLE,
    sqlite3.SQLITE_DROP_INDEX,
    sqlite3.SQLITE_DROP_VIEW,
    sqlite3.SQLITE_DROP_TRIGGER,
    sqlite3.SQLITE_ALTER_TABLE,
    sqlite3.SQLITE_TRANSACTION,
    sqlite3.SQLITE_SAVEPOINT,
    sqlite3.SQLITE_REINDEX,
    sqlite3.SQLITE_ANALYZE,
}
_ACTION_NAMES = {
    getattr(sqlite3, name): name.removeprefix("SQLITE_")
    for name in dir(sqlite3)
    if name.startswith("SQLITE_") and name.isupper() and not name.startswith("SQLITE_LIMIT")
}
_FORBIDDEN_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "fts3_tokenizer"})


class _Guard:
    """The authorizer of one connection; remembers what it refused, for the record."""

    def __init__(self, writable: bool) -> None:
        self._allowed = _WRITE_ACTIONS if writable else _READ_ACTIONS
        self.refused = ""

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, _src: str | None
    ) -> int:
        if action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() in _FORBIDDEN_FUNCTIONS:
                return self._refuse(f"function {arg2}")
            return sqlite3.SQLITE_OK
        if action not in self._allowed:
            what = _ACTION_NAMES.get(action, str(action))
            return self._refuse(" ".join(x for x in (what, arg1 or "") if x))
        if db not in (None, "main"):
            return self._refuse(f"database {db!r}")
        return sqlite3.SQLITE_OK

    def _refuse(self, what: str) -> int:
        self.refused = self.refused or what
        return sqlite3.SQLITE_DENY


class SqliteEngine:
    """`Engine` over SQLite files, `SCHEMA.sqlite3` under `folder`. See the module docstring."""

    def __init__(self, folder: Path, timeout_s: float = 2.0) -> None:
        self._folder = folder
        self._timeout_s = timeout_s
        self._connections: dict[tuple[str, bool], tuple[sqlite3.Connection, _Guard]] = {}
        self._lock = threading.Lock()

    def path(self, schema: str) -> Path:
        """The file that holds `schema`."""
        return self._folder / f"{schema}.sqlite3"

    def _connection(self, schema: str, writable: bool) -> tuple[sqlite3.Connection, _Guard]:
        key = (schema, writable)
        if key not in self._connections:
            path = self.path(schema)
            if not path.exists():
                sqlite3.connect(path).close()  # an empty schema to start from
            mode = "rw" if writable else "ro"
            connection = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode={mode}",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
            connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            connection.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL)
            guard = _Guard(writable)
            connection.set_authorizer(guard)
            self._connections[key] = (connection, guard)
        return self._connections[key]

    def run(
        self, schema: str, writable: bool, sql: str, params: Sequence[object], cap: int
    ) -> bytes:
        """See `Engine.run`."""
        with self._lock:
            connection, guard = self._connection(schema, writable)
            guard.refused = ""
            deadline = time.monotonic() + self._timeout_s
            connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
            try:
                cursor = connection.execute(sql, params)
                if cursor.description is None:
                    return json.dumps({"rowcount": cursor.rowcount}).encode()
                columns = [column[0] for column in cursor.description]
                return encode_rows(columns, cursor, cap)
            except sqlite3.Error as exc:
                raise _translate(exc, guard, schema, deadline) from None
            finally:
                connection.set_progress_handler(None, 0)

    def close(self) -> None:
        """See `Engine.close`."""
        with self._lock:
            for connection, _guard in self._connections.values():
                connection.close()
            self._connections.clear()


def _translate(exc: sqlite3.Error, guard: _Guard, schema: str, deadline: float) -> Exception:
    text = str(exc)
    if guard.refused or "not authorized" in text:
        return DatabaseDenied(f"refused outside schema {schema!r}: {guard.refused or text}")
    if text.startswith(("unknown database", "no such table: ")) and "." in text:
        return DatabaseDenied(f"schema-qualified name outside {schema!r}: {text}")
    if "readonly database" in text:
        return DatabaseDenied(f"read-only grant on {schema!r}: {text}")
    if "interrupted" in text and time.monotonic() > deadline:
        return DatabaseFailed("statement ran past the time cap", Code.TIMEOUT)
    if isinstance(exc, sqlite3.ProgrammingError):
        return DatabaseFailed(text, Code.BAD_ARGUMENT)
    return DatabaseFailed(text)
