"""The local advisory store: import from a folder or a zip, OSV range semantics, the server."""

from __future__ import annotations

import json
import socket
import sqlite3
import urllib.request
import zipfile
from pathlib import Path

import pytest

from sandbench.errors import ScanInputError
from sandbench.scanners import AdvisoryStore, import_export, osv_server
from sandbench.scanners._support.advisories import affects
from tests.scanners.conftest import OSV


def _zip(tmp_path: Path) -> Path:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for record in sorted((OSV / "PyPI").glob("*.json")):
            z.write(record, record.name)
    return archive


@pytest.mark.parametrize("form", ["folder", "zip"])
def test_import_keeps_pypi_records_and_rejects_the_rest(tmp_path, form):
    source = OSV if form == "folder" else _zip(tmp_path)
    summary = import_export(source, tmp_path / "db.sqlite")
    assert (summary.stored, summary.rejected) == (2, 2)
    store = AdvisoryStore(tmp_path / "db.sqlite")
    db = store.describe()
    assert db.kind == "local"
    assert db.records == 2
    assert db.newest_modified is not None
    assert db.newest_modified.year == 2023
    assert db.imported_at is not None


def test_query_follows_the_affected_ranges(advisory_store):
    store = AdvisoryStore(advisory_store)
    assert [r["id"] for r in store.query("requests", "2.19.0")] == ["PYSEC-2018-28"]
    assert [r["id"] for r in store.query("Requests", "2.19.1")] == ["PYSEC-2018-28"]
    assert store.query("requests", "2.20.0") == []
    assert store.query("requests", "2.31.0") == []
    assert [r["id"] for r in store.query("urllib3", "1.24.1")] == ["PYSEC-2019-132"]
    assert store.query("urllib3", "1.26.18") == []
    assert store.query("left-pad", "1.0.0") == []


@pytest.mark.parametrize(
    ("events", "version", "hit"),
    [
        ([{"introduced": "1.0"}, {"fixed": "1.5"}], "0.9", False),
        ([{"introduced": "1.0"}, {"fixed": "1.5"}], "1.0", True),
        ([{"introduced": "1.0"}, {"fixed": "1.5"}], "1.5", False),
        ([{"introduced": "0"}, {"last_affected": "2.0"}], "2.0", True),
        ([{"introduced": "0"}, {"last_affected": "2.0"}], "2.0.1", False),
        ([{"fixed": "1.5"}, {"introduced": "1.0"}, {"introduced": "2.0"}], "2.1", True),
        ([{"introduced": "1.0"}, {"fixed": "not a version"}], "3.0", True),
    ],
)
def test_range_semantics(events, version, hit):
    record = {
        "id": "X",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "p"},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
    }
    assert affects(record, "p", version) is hit


def test_explicit_versions_and_withdrawn_records():
    record = {
        "id": "X",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "p"}, "versions": ["1.2"]}],
    }
    assert affects(record, "p", "1.2")
    assert not affects(record, "p", "1.3")
    assert not affects({**record, "withdrawn": "2024-01-01T00:00:00Z"}, "p", "1.2")
    assert not affects(record, "p", "not-a-version")


def test_a_failed_import_keeps_the_previous_store(tmp_path, advisory_store):
    target = tmp_path / "db.sqlite"
    import_export(OSV, target)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ScanInputError, match="no PyPI OSV records"):
        import_export(empty, target)
    assert AdvisoryStore(target).records == 2
    assert not (tmp_path / "db.sqlite.partial").exists()


@pytest.mark.parametrize("content", [b"PK\x03\x04 truncated", b"not a zip at all"])
def test_bad_exports_are_one_clear_error(tmp_path, content):
    bad = tmp_path / "all.zip"
    bad.write_bytes(content)
    with pytest.raises(ScanInputError, match="not a zip or folder of OSV JSON"):
        import_export(bad, tmp_path / "db.sqlite")
    with pytest.raises(ScanInputError, match="no such file"):
        import_export(tmp_path / "missing.zip", tmp_path / "db.sqlite")


def test_oversized_members_are_rejected_not_loaded(tmp_path, monkeypatch):
    # PYSEC-2018-28.json is 860 bytes, PYSEC-2019-132.json 755.
    monkeypatch.setattr("sandbench.scanners._support.advisories.MAX_RECORD_BYTES", 800)
    summary = import_export(_zip(tmp_path), tmp_path / "db.sqlite")
    assert (summary.stored, summary.rejected) == (1, 3)
    assert AdvisoryStore(tmp_path / "db.sqlite").query("requests", "2.19.0") == []


def test_a_file_that_is_not_a_store_is_an_input_error(tmp_path):
    bogus = tmp_path / "x.sqlite"
    sqlite3.connect(bogus).close()
    with pytest.raises(ScanInputError, match="not an advisory store"):
        AdvisoryStore(bogus)


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _raw(url: str, header: str) -> int:
    """Send a POST with a hostile header; return the status the server answers with."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(f"POST /v1/query HTTP/1.1\r\nHost: x\r\n{header}\r\n\r\n".encode())
        conn.shutdown(socket.SHUT_WR)
        return int(conn.recv(64).split()[1])


def test_server_answers_like_osv_on_loopback(advisory_store):
    with osv_server(AdvisoryStore(advisory_store)) as server:
        assert server.url.startswith("http://127.0.0.1:")
        query = {"package": {"name": "requests", "ecosystem": "PyPI"}, "version": "2.19.0"}
        status, body = _post(server.url, json.dumps(query).encode())
        assert status == 200
        assert [v["id"] for v in body["vulns"]] == ["PYSEC-2018-28"]
        query["version"] = "2.20.0"
        assert _post(server.url, json.dumps(query).encode()) == (200, {})
        assert _post(server.url, b"{nope")[0] == 400
        assert _raw(server.url, "Content-Length: -1") == 400
        assert _raw(server.url, "Content-Length: many") == 400
        assert _post(server.url.replace("/v1/query", "/v1/other"), b"{}")[0] == 404
        assert server.queries == ["requests==2.19.0", "requests==2.20.0"]
