"""`limits.storage` holds for what a container module writes into its writable buckets
(bind mounts), as for WASM: before, only /tmp's tmpfs was sized, and a module limited to
10 MB wrote 50 MB into `/storage/docs` with a healthy verdict. Folders count too, and a
bucket nested deeper than Python's recursion limit is removed afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbench._tree import remove_tree
from tests.sandbox.test_container import write_module

pytestmark = pytest.mark.docker

SANDBENCH = str(Path(sys.executable).parent / "sandbench")
LIMITS = {"memory": "64MB", "cpu": "500m", "timeout": "5s", "storage": "1MB"}

WRITES = """
with open("/storage/docs/big.bin", "wb") as out:
    for _ in range(5):
        out.write(b"x" * 1_000_000)
return "written"
"""
NESTS = """
fd = os.open("/storage/docs", os.O_RDONLY)
for _ in range(1500):
    try:
        os.mkdir("d", dir_fd=fd)
    except FileExistsError:
        pass
    inner = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = inner
os.close(fd)
return "nested"
"""


@pytest.fixture(autouse=True)
def _no_deep_leftovers(tmp_path):
    yield
    remove_tree(tmp_path)  # pytest's own clean-up would recurse into a leftover chain


@pytest.mark.parametrize(("body", "held"), [(WRITES, "5,000,000"), (NESTS, "6,1")])
def test_a_container_writing_past_limits_storage_into_its_bucket_is_a_violation(
    tmp_path, body, held
):
    root = write_module(
        tmp_path / "module", body, limits=LIMITS, permissions=["storage:write:docs"]
    )
    private = tmp_path / "tmp"
    private.mkdir()
    env = {**os.environ, "TMPDIR": str(private)}
    done = subprocess.run(
        [SANDBENCH, "-q", "check", str(root), "-f", "json"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    violations = json.loads(done.stdout)["violations"]
    assert [v["kind"] for v in violations] == ["storage"]
    assert f"hold {held}" in violations[0]["message"]
    assert "limits.storage (1,000,000)" in violations[0]["message"]
    assert list(private.iterdir()) == []
