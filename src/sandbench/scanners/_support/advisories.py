"""The local advisory store: OSV records imported from an export, queried like OSV's API.

`import_export(path, store)` loads the zip (or folder) of OSV JSON records that osv.dev
publishes per ecosystem (`PyPI/all.zip`) into one SQLite file. `AdvisoryStore.query`
answers what OSV's `POST /v1/query` answers: the records whose `affected` entries cover a
package version. `osv_server(store)` serves that on loopback for pip-audit.

Input is hostile by default: member count, member size and total size are bounded, and a
record that is not an OSV object is counted and left out, never fatal.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import zipfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from sandbench.errors import ScanInputError
from sandbench.scanners.interface import AdvisoryDatabase

__all__ = [
    "AdvisorySource",
    "AdvisoryStore",
    "ImportSummary",
    "advisory_source",
    "default_store_path",
    "import_export",
    "osv_server",
]

MAX_RECORDS = 200_000
MAX_RECORD_BYTES = 4 * 1024 * 1024
MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
ECOSYSTEM = "PyPI"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS record (id TEXT PRIMARY KEY, modified TEXT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS affects (package TEXT NOT NULL, id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS affects_package ON affects (package);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def default_store_path() -> Path:
    """`$SANDBENCH_ADVISORY_DB`, else `$XDG_DATA_HOME/sandbench/advisories.sqlite`."""
    explicit = os.environ.get("SANDBENCH_ADVISORY_DB")
    if explicit:
        return Path(explicit)
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "sandbench" / "advisories.sqlite"


@dataclass(frozen=True)
class AdvisorySource:
    """Where the dependency scan asks: an OSV API URL when one is configured, else the
    local store at `store` (served on loopback). `origin` says which setting chose it."""

    osv_url: str | None
    store: Path
    origin: str


def advisory_source(
    osv_url: str | None = None, store: Path | None = None, policy_url: str | None = None
) -> AdvisorySource:
    """The one rule every command follows (scan, gate, nightly, the Python API).

    The OSV URL is the first set of: the caller's flag or argument, `$SANDBENCH_OSV_URL`,
    the policy's `osv_url`. Without one, the local store: the caller's path, else
    `default_store_path()` (`$SANDBENCH_ADVISORY_DB`, else the XDG data folder).
    """
    local = store or default_store_path()
    for origin, url in (
        ("--osv-url", osv_url),
        ("SANDBENCH_OSV_URL", os.environ.get("SANDBENCH_OSV_URL")),
        ("policy osv_url", policy_url),
    ):
        if url:
            return AdvisorySource(osv_url=url, store=local, origin=origin)
    return AdvisorySource(osv_url=None, store=local, origin="local store")


def canonical_name(name: str) -> str:
    """PEP 503 normalization: `Foo_Bar` and `foo-bar` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


class ImportSummary:
    """How many records an import stored and how many it left out."""

    def __init__(self, stored: int, rejected: int) -> None:
        self.stored = stored
        self.rejected = rejected


def _members(path: Path) -> Iterator[tuple[str, bytes]]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if p.is_file())
        if len(files) > MAX_RECORDS:
            raise ScanInputError(path, f"more than {MAX_RECORDS} records")
        for file in files:
            if file.stat().st_size > MAX_RECORD_BYTES:
                yield file.name, b""
            else:
                yield file.name, file.read_bytes()
        return
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ScanInputError(path, f"not a zip or folder of OSV JSON records: {exc}") from exc
    with archive:
        infos = [i for i in archive.infolist() if i.filename.endswith(".json")]
        if len(infos) > MAX_RECORDS:
            raise ScanInputError(path, f"more than {MAX_RECORDS} records")
        if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
            raise ScanInputError(path, "the export unpacks to more than 2 GiB")
        for info in infos:
            # file_size is what the archive claims; read at most one byte more to check it.
            with archive.open(info) as member:
                data = member.read(MAX_RECORD_BYTES + 1)
            yield info.filename, b"" if len(data) > MAX_RECORD_BYTES else data


def _packages(record: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for affected in record.get("affected") or ():
        package = affected.get("package") if isinstance(affected, dict) else None
        if isinstance(package, dict) and package.get("ecosystem") == ECOSYSTEM:
            name = package.get("name")
            if isinstance(name, str) and name:
                names.add(canonical_name(name))
    return names


def _parse_record(data: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        return None
    return record


def import_export(source: Path, store_path: Path) -> ImportSummary:
    """Replace the store at `store_path` with the PyPI records of the export at `source`.

    Raises `ScanInputError` when `source` is neither a zip nor a folder, or is too large.
    The new store is written beside the old one and moved over it, so a failed import
    leaves the previous store intact.
    """
    if not source.exists():
        raise ScanInputError(source, "no such file or folder (download PyPI/all.zip from OSV)")
    store_path.parent.mkdir(parents=True, exist_ok=True)
    partial = store_path.with_name(store_path.name + ".partial")
    partial.unlink(missing_ok=True)
    stored = rejected = 0
    newest = ""
    with closing(sqlite3.connect(partial)) as db:
        db.executescript(_SCHEMA)
        for _, data in _members(source):
            record = _parse_record(data)
            names = _packages(record) if record else set()
            if record is None or not names:
                rejected += 1
                continue
            modified = str(record.get("modified", ""))
            newest = max(newest, modified)
            db.execute(
                "INSERT OR REPLACE INTO record VALUES (?, ?, ?)",
                (record["id"], modified, json.dumps(record)),
            )
            db.executemany("INSERT INTO affects VALUES (?, ?)", [(n, record["id"]) for n in names])
            stored += 1
        now = datetime.now(UTC).isoformat()
        meta = {"source": str(source), "imported_at": now, "newest_modified": newest}
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())
        db.commit()
    if stored == 0:
        partial.unlink()
        raise ScanInputError(source, f"no PyPI OSV records found ({rejected} entries rejected)")
    partial.replace(store_path)
    return ImportSummary(stored, rejected)


def _version_in_range(version: Version, events: list[dict[str, str]]) -> bool:
    """OSV's ECOSYSTEM range semantics: introduced opens, fixed / last_affected close."""
    points: list[tuple[Version, int, str]] = []
    for event in events:
        for kind, order in (("introduced", 0), ("fixed", 1), ("last_affected", 2), ("limit", 1)):
            text = event.get(kind) if isinstance(event, dict) else None
            if not isinstance(text, str):
                continue
            try:
                points.append((Version("0") if text == "0" else Version(text), order, kind))
            except InvalidVersion:
                continue
    affected = False
    for point, _, kind in sorted(points, key=lambda p: (p[0], p[1])):
        if kind == "introduced" and point <= version:
            affected = True
        elif (kind in ("fixed", "limit") and point <= version) or (
            kind == "last_affected" and point < version
        ):
            affected = False
    return affected


def affects(record: dict[str, Any], name: str, version_text: str) -> bool:
    """True when `record` says `name==version_text` (PyPI) is affected."""
    if record.get("withdrawn"):
        return False
    try:
        version = Version(version_text)
    except InvalidVersion:
        return False
    for entry in record.get("affected") or ():
        package = entry.get("package") or {}
        if package.get("ecosystem") != ECOSYSTEM or canonical_name(package.get("name", "")) != name:
            continue
        if version_text in (entry.get("versions") or ()):
            return True
        for rng in entry.get("ranges") or ():
            if rng.get("type") == "ECOSYSTEM" and _version_in_range(version, rng.get("events", [])):
                return True
    return False


class AdvisoryStore:
    """A read-only view of an imported store. Thread-safe: one connection per query."""

    def __init__(self, path: Path) -> None:
        """Raises `ScanInputError` when `path` is not a store written by `import_export`."""
        self.path = path
        try:
            with closing(self._connect()) as db:
                rows = dict(db.execute("SELECT key, value FROM meta").fetchall())
                self.records = int(db.execute("SELECT count(*) FROM record").fetchone()[0])
        except sqlite3.Error as exc:
            raise ScanInputError(
                path, f"not an advisory store ({exc}); run `sandbench advisories import`"
            ) from exc
        self.meta: dict[str, str] = rows

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)

    def describe(self) -> AdvisoryDatabase:
        """Where the store is, how many records it holds and when it was filled."""
        return AdvisoryDatabase(
            kind="local",
            location=str(self.path),
            records=self.records,
            newest_modified=_when(self.meta.get("newest_modified")),
            imported_at=_when(self.meta.get("imported_at")),
        )

    def record(self, advisory_id: str) -> dict[str, Any] | None:
        """The stored record with this id, or None."""
        with closing(self._connect()) as db:
            row = db.execute("SELECT body FROM record WHERE id = ?", (advisory_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def query(self, name: str, version: str) -> list[dict[str, Any]]:
        """The records that affect `name==version`, as OSV's API returns them."""
        key = canonical_name(name)
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT r.body FROM affects a JOIN record r ON r.id = a.id WHERE a.package = ?",
                (key,),
            ).fetchall()
        records = [json.loads(body) for (body,) in rows]
        return [r for r in records if affects(r, key, version)]


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class _Handler(BaseHTTPRequestHandler):
    store: AdvisoryStore
    queries: list[str]

    def do_POST(self) -> None:
        if self.path != "/v1/query":
            self._send(404, {"error": "only POST /v1/query"})
            return
        try:
            # Bounded both ways: a negative length would read until the client hangs up.
            length = max(0, min(int(self.headers.get("Content-Length") or 0), 64 * 1024))
            body = json.loads(self.rfile.read(length))
            name = body["package"]["name"]
            version = body["version"]
        except (ValueError, KeyError, TypeError):
            self._send(400, {"error": "expected {package: {name, ecosystem}, version}"})
            return
        self.queries.append(f"{name}=={version}")
        vulns = self.store.query(str(name), str(version))
        self._send(200, {"vulns": vulns} if vulns else {})

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the scan result says what was queried."""


class OsvServer:
    """A running loopback OSV endpoint; `url` is what pip-audit's `--osv-url` takes."""

    def __init__(self, server: ThreadingHTTPServer, queries: list[str]) -> None:
        self._server = server
        self.queries = queries
        host, port = server.server_address[:2]
        self.url = f"http://{host!s}:{port}/v1/query"


@contextmanager
def osv_server(store: AdvisoryStore) -> Iterator[OsvServer]:
    """Serve `store` as OSV's query API on 127.0.0.1 (a free port) for the block's duration."""
    queries: list[str] = []
    handler = type("Handler", (_Handler,), {"store": store, "queries": queries})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="osv-loopback", daemon=True)
    thread.start()
    try:
        yield OsvServer(server, queries)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
