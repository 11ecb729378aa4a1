"""The Docker Engine fixture shared by the container test modules."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator

import pytest

from sandbench.errors import BackendUnavailable
from sandbench.sandbox.cache import default_cache_dir
from sandbench.sandbox.container import LABEL, ContainerBackend, build_python_image
from sandbench.sandbox.container.engine import owner_of

OWNER_FORMAT = f'{{{{.ID}}}} {{{{.Label "{LABEL}.owner"}}}}'


def _containers() -> list[tuple[str, str]]:
    """(id, owner label) of every sandbench container on the engine."""
    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label={LABEL}", "--format", OWNER_FORMAT],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.split() for line in out.stdout.splitlines() if line.strip()]
    return [(row[0], row[-1] if len(row) > 1 else "") for row in rows]


def backend_leftovers(pid: int | None = None) -> list[str]:
    """sandbench containers on the engine; with `pid`, only those that process owns."""
    mine = f"{socket.gethostname()}:{pid}:"
    return [cid for cid, owner in _containers() if pid is None or owner.startswith(mine)]


def _another_run(owner: str) -> bool:
    """True for a container of another live process: a second test run or a user's gate
    on the same engine, whose containers are that process's business, not a leak of ours."""
    _host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    return pid.isdigit() and int(pid) != os.getpid() and owner_of(int(pid)) == owner


@pytest.fixture(scope="module")
def engine() -> Iterator[ContainerBackend]:
    """A container backend on the real engine (skipped without one), the base image built."""
    try:
        backend = ContainerBackend()
    except BackendUnavailable as exc:
        pytest.skip(f"no Docker Engine: {exc}")
    build_python_image(backend.client, default_cache_dir() / "images")
    before = set(backend_leftovers())
    with backend:
        yield backend
    # What this module's tests started (in this process or in children that have ended)
    # and did not remove; another live process's containers are not counted.
    leftovers = [
        cid for cid, owner in _containers() if cid not in before and not _another_run(owner)
    ]
    assert leftovers == [], f"sandbench containers left behind: {leftovers}"
