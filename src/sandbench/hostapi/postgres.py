"""PostgreSQL schemas for the `database` capability (psycopg 3; `pip install sandbench[postgres]`).

Given an administrator's URL, the engine prepares, per granted schema and access mode, a
login role of its own (`sb_<schema>_r` / `sb_<schema>_w`, a fresh random password each
time) that:

- has `USAGE` (and for `:write`, `CREATE`) on that schema and privileges on its tables,
  and nothing on any other schema: schema-qualified names elsewhere and
  `SET search_path` to another schema reach nothing they may read;
- has `search_path` pinned to the schema and, for `:read`,
  `default_transaction_read_only = on` (and no write privilege to fall back on);
- has `statement_timeout` set to the time cap.

Module statements run on the role's own connection, one statement per call, always with
bound parameters through the extended protocol (which refuses several statements in one
call; results are requested in binary, which forces that protocol even without parameters). The administrator's connection is used only to prepare the roles.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Sequence

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from sandbench.errors import SandboxError

from .codes import Code
from .database import DatabaseDenied, DatabaseFailed, encode_rows

__all__ = ["PostgresEngine"]

# SQLSTATE classes that mean "outside the grant": insufficient privilege, read-only
# transaction, undefined schema/table reached through a qualified name.
_DENIED_STATES = {"42501", "25006", "3F000"}
# Session settings are the engine's (search_path, role, read-only): a statement that sets
# them is refused before it reaches the server. set_config() still can, which privileges
# make harmless: another schema stays out of reach whatever the search_path says.
_SESSION = re.compile(r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*(set|reset|discard)\b", re.I | re.S)


class PostgresEngine:
    """`Engine` over PostgreSQL schemas. See the module docstring."""

    def __init__(self, admin_url: str, timeout_s: float = 2.0) -> None:
        self._admin_url = admin_url
        self._timeout_ms = max(1, int(timeout_s * 1000))
        self._connections: dict[tuple[str, bool], psycopg.Connection[tuple[object, ...]]] = {}
        self._lock = threading.Lock()

    def _connection(self, schema: str, writable: bool) -> psycopg.Connection[tuple[object, ...]]:
        key = (schema, writable)
        if key not in self._connections:
            role, password = self._prepare(schema, writable)
            params = conninfo_to_dict(self._admin_url)
            params.update(user=role, password=password)
            try:
                self._connections[key] = psycopg.connect(
                    make_conninfo("", **params), autocommit=True
                )
            except psycopg.Error as exc:
                raise SandboxError(f"PostgreSQL: cannot connect as {role}: {exc}") from None
        return self._connections[key]

    def _prepare(self, schema: str, writable: bool) -> tuple[str, str]:
        """Create or refresh the schema's role; (role, password)."""
        role = f"sb_{schema}_{'w' if writable else 'r'}"[:63]
        password = secrets.token_urlsafe(24)
        ident, role_ident = pgsql.Identifier(schema), pgsql.Identifier(role)
        statements = [
            pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident),
            pgsql.SQL(
                "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {}) "
                "THEN CREATE ROLE {} LOGIN NOINHERIT; END IF; END$$"
            ).format(pgsql.Literal(role), role_ident),
            pgsql.SQL("ALTER ROLE {} PASSWORD {}").format(role_ident, pgsql.Literal(password)),
            pgsql.SQL("ALTER ROLE {} SET search_path = {}").format(role_ident, ident),
            pgsql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(
                role_ident, pgsql.Literal(self._timeout_ms)
            ),
            pgsql.SQL("ALTER ROLE {} SET default_transaction_read_only = {}").format(
                role_ident, pgsql.Literal("off" if writable else "on")
            ),
            pgsql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(ident, role_ident),
            pgsql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(ident, role_ident),
        ]
        if writable:
            statements += [
                pgsql.SQL("GRANT CREATE ON SCHEMA {} TO {}").format(ident, role_ident),
                pgsql.SQL("GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(
                    ident, role_ident
                ),
                pgsql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
                    ident, role_ident
                ),
            ]
        try:
            with psycopg.connect(self._admin_url, autocommit=True) as admin:
                for statement in statements:
                    admin.execute(statement)
        except psycopg.Error as exc:
            raise SandboxError(f"PostgreSQL: cannot prepare schema {schema!r}: {exc}") from None
        return role, password

    def run(
        self, schema: str, writable: bool, sql: str, params: Sequence[object], cap: int
    ) -> bytes:
        """See `Engine.run`."""
        if _SESSION.match(sql):
            raise DatabaseDenied(f"session settings of schema {schema!r} are fixed: {sql[:60]}")
        with self._lock:
            connection = self._connection(schema, writable)
            try:
                # Binary results make psycopg use the extended protocol even without
                # parameters, and that protocol runs exactly one statement per call.
                cursor = connection.cursor(binary=True)
                cursor.execute(sql.encode(), list(params), prepare=False)
                if cursor.description is None:
                    return json.dumps({"rowcount": cursor.rowcount}).encode()
                columns = [column.name for column in cursor.description]
                return encode_rows(columns, cursor, cap)
            except psycopg.Error as exc:
                raise _translate(exc, schema) from None

    def close(self) -> None:
        """See `Engine.close`."""
        with self._lock:
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()


def _translate(exc: psycopg.Error, schema: str) -> Exception:
    state = exc.sqlstate or ""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if state in _DENIED_STATES or state.startswith("42501"):
        return DatabaseDenied(f"refused outside schema {schema!r}: {text}")
    if state == "57014":
        return DatabaseFailed("statement ran past the time cap", Code.TIMEOUT)
    if state == "42601" and "multiple commands" in text:
        return DatabaseFailed(text, Code.BAD_ARGUMENT)
    if isinstance(exc, psycopg.ProgrammingError) and not state:
        return DatabaseFailed(text, Code.BAD_ARGUMENT)
    return DatabaseFailed(text)
