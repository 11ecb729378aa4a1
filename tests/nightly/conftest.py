"""Nightly fixtures: configs over real example modules, stores (SQLite, PostgreSQL)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sandbench.nightly import CellResult, CellStatus, SqlStore, open_store
from sandbench.nightly.models import StoredFinding
from tests.conftest import EXAMPLES

PG_URL = os.environ.get("SANDBENCH_TEST_PG_URL")

WriteConfig = Callable[..., Path]


@pytest.fixture
def modules(tmp_path: Path) -> Path:
    """Copies of example modules (so a test may change one between nights)."""
    root = tmp_path / "modules"
    for name in ("hello", "hello-reactor"):
        shutil.copytree(EXAMPLES / name, root / name)
    shutil.copytree(EXAMPLES / "hostile" / "infinite-loop", root / "spin")
    return root


@pytest.fixture
def write_config(tmp_path: Path, cache_dir: Path) -> WriteConfig:
    def write(
        paths: list[str],
        *,
        matrix: str = 'backend = ["wasm"]',
        extra: str = "",
        calls: int = 8,
        cell_timeout: float = 60,
        name: str = "nightly.toml",
    ) -> Path:
        quoted = ", ".join(f'"{p}"' for p in paths)
        text = (
            f'[nightly]\ncalls = {calls}\ncell_timeout = {cell_timeout}\nstore = "history.db"\n'
            f'cache_dir = "{cache_dir}"\n\n[modules]\npaths = [{quoted}]\n\n[matrix]\n{matrix}\n{extra}'
        )
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    with open_store(tmp_path / "history.db") as store:
        yield store


@pytest.fixture
def pg_url() -> str:
    if not PG_URL:
        pytest.skip("SANDBENCH_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)")
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS results, runs, schema_migrations")
    return PG_URL


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    where = tmp_path / "h.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    with open_store(where) as store:
        yield store


_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def result(
    run_id: str,
    module: str = "m",
    cell: str = "backend=wasm",
    *,
    status: CellStatus = CellStatus.HEALTHY,
    samples: list[float] | None = None,
    findings: tuple[str, ...] = (),
    night: int = 0,
    digest: str = "d1",
) -> CellResult:
    return CellResult(
        run_id=run_id,
        module=module,
        digest=digest,
        cell=cell,
        module_id="@t/m",
        version="1.0.0",
        status=status,
        message="" if status is CellStatus.HEALTHY else "why",
        elapsed_ms=1.0,
        samples={"health.latency_ms": samples} if samples else {},
        findings=[
            StoredFinding(fingerprint=f, rule="r/1", severity="high", message=f) for f in findings
        ],
        recorded_at=_T0 + timedelta(days=night),
    )
