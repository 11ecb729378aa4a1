"""The Docker Engine fixture shared by the container test modules."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import pytest

from sandbench.errors import BackendUnavailable
from sandbench.sandbox.cache import default_cache_dir
from sandbench.sandbox.container import LABEL, ContainerBackend, build_python_image

OWNER_FORMAT = f'{{{{.ID}}}} {{{{.Label "{LABEL}.owner"}}}}'


def backend_leftovers(pid: int | None = None) -> list[str]:
    """sandbench containers on the engine; with `pid`, only those that process owns."""
    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label={LABEL}", "--format", OWNER_FORMAT],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.split() for line in out.stdout.splitlines() if line.strip()]
    mine = f"{socket.gethostname()}:{pid}:"
    return [row[0] for row in rows if pid is None or row[-1].startswith(mine)]


@pytest.fixture(scope="module")
def engine() -> Iterator[ContainerBackend]:
    """A container backend on the real engine (skipped without one), the base image built."""
    try:
        backend = ContainerBackend()
    except BackendUnavailable as exc:
        pytest.skip(f"no Docker Engine: {exc}")
    build_python_image(backend.client, default_cache_dir() / "images")
    with backend:
        yield backend
    leftovers = backend_leftovers()
    assert leftovers == [], f"sandbench containers left behind: {leftovers}"
