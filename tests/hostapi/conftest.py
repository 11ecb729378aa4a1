"""Loopback HTTP servers and recorders for the capability tests. Nothing leaves 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbench.hostapi import Recorder

from .server import serve


@pytest.fixture(scope="session")
def loopback() -> Iterator[str]:
    """`127.0.0.1:PORT` of a test server, for the capability's `resolve` map."""
    with serve() as address:
        yield address


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
