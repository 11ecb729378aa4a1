"""The pytest plugin, as a module developer uses it: a real pytest run in a fresh folder,
with the plugin loaded from its `pytest11` entry point and the module in real wasmtime."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import EXAMPLES

DEVELOPER_TESTS = f"""
import pytest

from sandbench.sandbox import Request

pytestmark = pytest.mark.sandbench_module({str(EXAMPLES / "vendas")!r})


def test_quote(sandbench_module):
    result = sandbench_module.invoke(
        method="POST", path="/quote", body=b"sku,quantity,unit_price_cents\\nA,2,1050\\n"
    )
    assert result.ok
    assert result.response.status == 200
    assert b"2100" in result.response.body


def test_limits_come_from_the_manifest(sandbench_module):
    assert sandbench_module.limits.timeout_ms == 2000


def test_health(sandbench_module):
    assert sandbench_module.invoke(sandbench_module.health_request).response.status == 200


def test_benchmark(sandbench_module, benchmark):
    outcome = benchmark(sandbench_module.invoke, Request())
    assert outcome.ok


@pytest.mark.sandbench_module({str(EXAMPLES / "hostile" / "unknown-import")!r})
def test_a_module_that_does_not_load(sandbench_module):
    pass
"""


def run_pytest(folder, *args):
    # A config of its own, so that this project's pyproject.toml (which turns the plugin
    # off for the project's own tests) is not picked up.
    (folder / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=folder, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_developers_write_invoke_tests_and_benchmarks(tmp_path):
    (tmp_path / "test_module.py").write_text(DEVELOPER_TESTS)
    done = run_pytest(tmp_path, "--benchmark-disable")
    assert "4 passed" in done.stdout, done.stdout + done.stderr
    assert "1 error" in done.stdout
    assert "the module did not load: unknown import" in done.stdout


def test_the_module_can_come_from_the_command_line(tmp_path):
    (tmp_path / "test_cli.py").write_text(
        "def test_it(sandbench_module):\n"
        "    assert sandbench_module.invoke().response.body == b'hello from sandbench\\n'\n"
    )
    done = run_pytest(tmp_path, f"--sandbench-module={EXAMPLES / 'hello'}")
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_module_given_is_one_clear_line(tmp_path):
    (tmp_path / "test_none.py").write_text("def test_it(sandbench_module):\n    pass\n")
    done = run_pytest(tmp_path)
    assert done.returncode == 1
    assert "sandbench_module: no module given; use --sandbench-module DIR" in done.stdout


def test_a_bad_module_path_is_one_clear_line(tmp_path):
    (tmp_path / "test_bad.py").write_text("def test_it(sandbench_module):\n    pass\n")
    done = run_pytest(tmp_path, f"--sandbench-module={tmp_path / 'missing'}")
    assert done.returncode == 1
    assert "not a directory" in done.stdout
    assert "Traceback" not in done.stdout
