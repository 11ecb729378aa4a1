"""`HostApi`: the four capabilities of one module instance, built from its permissions.

A sandbox makes one `HostApi` per instance, calls it from its imported functions (WASM)
or from its local HTTP API (containers, docs/hostapi.md), and drains `recorder` after each
invocation into the `Outcome`. Nothing here knows about any sandbox.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sandbench._tree import remove_tree
from sandbench.manifests import Permission, Rate, Resource

from .database import Database, Engine, SqliteEngine
from .http import Http, HttpSettings
from .log import Log
from .record import Recorder
from .storage import Storage

__all__ = ["HostApi", "HostSettings"]


class HostSettings(BaseModel):
    """Where the capabilities reach: outbound HTTP settings and the database location.

    `database_dir` holds the SQLite files (a private temporary folder when None);
    `postgres_url` switches the database capability to PostgreSQL schemas.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    http: HttpSettings = Field(default_factory=HttpSettings)
    database_dir: Path | None = None
    postgres_url: str | None = None
    statement_timeout_s: float = Field(default=2.0, gt=0)


class HostApi:
    """The capabilities `permissions` grant. Close it to release database connections."""

    def __init__(
        self,
        permissions: Sequence[Permission],
        *,
        storage_read: Mapping[str, Path],
        storage_write: Mapping[str, Path],
        storage_bytes: int,
        network: Rate | None,
        settings: HostSettings,
    ) -> None:
        self.recorder = Recorder()
        self.log = Log(self.recorder)
        self.storage = Storage(storage_read, storage_write, storage_bytes, self.recorder)
        hosts = [p.target for p in permissions if p.resource is Resource.API]
        self.http = Http(hosts, network, settings.http, self.recorder)
        read = [
            p.target for p in permissions if p.resource is Resource.DATABASE and p.action == "read"
        ]
        write = [
            p.target for p in permissions if p.resource is Resource.DATABASE and p.action == "write"
        ]
        self._scratch: Path | None = None
        engine = self._engine(settings, bool(read or write))
        self.database = Database(read, write, engine, self.recorder)

    def _engine(self, settings: HostSettings, needed: bool) -> Engine | None:
        if not needed:
            return None
        if settings.postgres_url is not None:
            from .postgres import PostgresEngine  # psycopg is optional

            return PostgresEngine(settings.postgres_url, settings.statement_timeout_s)
        folder = settings.database_dir
        if folder is None:
            self._scratch = folder = Path(tempfile.mkdtemp(prefix="sandbench-db-"))
        return SqliteEngine(folder, settings.statement_timeout_s)

    def begin(self) -> None:
        """Start an invocation: the log budget starts afresh."""
        self.log.reset()

    def close(self) -> None:
        """Close database connections and the storage's folder descriptors, and remove a
        private database folder; twice is harmless."""
        self.database.close()
        self.storage.close()
        if self._scratch is not None:
            remove_tree(self._scratch)
            self._scratch = None
