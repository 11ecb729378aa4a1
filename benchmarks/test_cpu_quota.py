"""The CPU quota the saturation benchmark puts each server under: a process in it is held
to its quota (the cgroup counts the periods it ran out), and the cgroup goes at the end of
the block even when the block fails, with whatever still ran in it. Where no writable
cgroup CPU controller exists, it says why instead."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from .cpu_quota import cpu_quota


class _Boom(Exception):
    pass


def _spin_then_fail(started: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    """Run a process that never sleeps under a tenth of a core until the cgroup throttles
    it, then fail with it still running (recorded in `started`)."""
    with cpu_quota(0.1, "test") as (quota, why):
        if quota is None:
            assert why.startswith("no CPU quota could be set (")
            raise _Boom
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        started.append((spinner, quota.path))
        quota.add(spinner.pid)
        assert quota.pids() == {spinner.pid}
        deadline = time.monotonic() + 30
        while quota.throttling()[1] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert quota.throttling()[1] > 0
        raise _Boom


def test_quota_throttles_and_leaves_nothing():
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    with pytest.raises(_Boom):
        _spin_then_fail(started)
    for spinner, path in started:
        assert spinner.wait(timeout=10) < 0  # killed, not left spinning
        assert not path.exists()
