"""`limits.files` in the container backend: the engine sets RLIMIT_NOFILE (`nofile`) and
the module's process sees it and runs into it (real Docker Engine)."""

from __future__ import annotations

import json

import pytest

from tests.sandbox.test_container import get, start, write_module

pytestmark = pytest.mark.docker

# Reports the open-files limit as the process sees it, then opens files until refused.
OPEN_FILES = r"""
import errno, resource
line = [l for l in open("/proc/self/limits") if l.startswith("Max open files")][0]
held, refused = [], None
try:
    for _ in range(200):
        held.append(open("/module/server.py"))
except OSError as exc:
    refused = errno.errorcode[exc.errno]
for f in held:
    f.close()
return {"limits": line.split()[3:5], "rlimit": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
        "opened": len(held), "refused": refused}
"""


def test_the_declared_files_limit_is_the_containers_nofile_ulimit(engine, tmp_path):
    limits = {"memory": "64MB", "cpu": "500m", "timeout": "2s", "files": 16}
    result = start(engine, write_module(tmp_path / "files", OPEN_FILES, limits=limits))
    assert result.instance is not None, result.violation
    with result.instance as instance:
        ulimits = instance.container.attrs["HostConfig"]["Ulimits"]
        outcome = get(instance)
    assert {"Name": "nofile", "Soft": 16, "Hard": 16} in ulimits
    assert outcome.ok, outcome
    seen = json.loads(outcome.response.body)
    assert seen["limits"] == ["16", "16"]
    assert seen["rlimit"] == [16, 16]
    assert seen["refused"] == "EMFILE"
    assert 0 < seen["opened"] < 16  # stdio, the listening and the client socket hold some
