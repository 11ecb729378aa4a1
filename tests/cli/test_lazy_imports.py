"""A warm `check` does not import what only other commands use (its start-up is most of it).

Run in a fresh interpreter: `sandbench check` of a small module, then the heavy packages
that must not have been imported on the way (benchmarks/test_check_warm.py has the figures).
"""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from sandbench.cli import cli
from tests.conftest import EXAMPLES

HEAVY = ["docker", "uvicorn", "prometheus_client", "cyclonedx", "requests", "locust"]
SCRIPT = """
import json, sys
from click.testing import CliRunner
from sandbench.cli import cli
result = CliRunner().invoke(cli, ["-q", "check", sys.argv[1], "--calls", "1"])
heavy = json.loads(sys.argv[2])
print(json.dumps({"exit": result.exit_code, "output": result.output,
                  "imported": sorted(h for h in heavy if h in sys.modules),
                  "commands": sorted(cli.commands)}))
"""


def test_check_imports_only_what_it_uses(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(EXAMPLES / "hello"), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        env={"SANDBENCH_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    seen = json.loads(done.stdout)
    assert seen["exit"] == 0, seen["output"]
    assert seen["imported"] == []
    assert seen["commands"] == ["check"], "only the command that ran was imported"


def test_help_lists_every_command_and_each_one_loads():
    listed = CliRunner().invoke(cli, ["--help"])
    names = [line.split()[0] for line in listed.output.split("Commands:\n")[1].splitlines()]
    assert names == sorted(names)
    assert {"check", "gate", "new", "nightly", "serve"} <= set(names)
    for name in names:
        shown = CliRunner().invoke(cli, [name, "--help"])
        assert shown.exit_code == 0, (name, shown.output)
        assert f" {name} [OPTIONS]" in shown.output.splitlines()[0]
