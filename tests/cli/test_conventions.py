"""The conventions of bandit, pip-audit and pytest across the CLI: -V, -f/-o, -q/-v, colour,
one error style, configuration found upwards from the working directory."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from sandbench._version import __version__
from sandbench.cli import cli
from sandbench.cli.config import find_config
from tests.conftest import EXAMPLES

HELLO = str(EXAMPLES / "hello")


def run(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess[str]:
    """The installed CLI in a process of its own (its exit handling and streams included)."""
    code = "from sandbench._entry import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_prints_the_name_and_the_version(flag):
    result = CliRunner().invoke(cli, [flag])
    assert (result.exit_code, result.output) == (0, f"sandbench {__version__}\n")


def test_the_console_script_ends_after_exit_callbacks_and_flushed_output(tmp_path):
    """It leaves with os._exit (wasmtime's worker threads can abort finalization), so it
    runs the atexit callbacks and flushes the streams itself: nothing is lost."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('exit callback ran'))\n"
        "sys.argv = ['sandbench', *sys.argv[1:]]\n"
        "from sandbench._entry import main; main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "check", "-q", "-f", "json", HELLO, "--cache-dir", str(tmp_path)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report, _, rest = done.stdout.rpartition("}\n")
    assert json.loads(report + "}")["status"] == "healthy"
    assert rest == "exit callback ran\n"


def test_a_usage_error_is_one_error_line_and_a_hint():
    done = run("check", "--no-such-option", HELLO)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "sandbench: error: No such option '--no-such-option'.",
        "Try 'sandbench check --help' for help.",
    ]


def test_an_invalid_input_names_the_file_in_the_same_style(tmp_path):
    done = run("manifest", "validate", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith(f"sandbench: error: {tmp_path}")
    assert len(done.stderr.splitlines()) == 1


def test_output_file_and_quiet(tmp_path, cache_dir):
    out = tmp_path / "report.json"
    args = ["-q", "check", HELLO, "-f", "json", "-o", str(out), "--cache-dir", str(cache_dir)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code in (0, 1), result.output
    assert result.output == ""  # -q: not even the status line
    assert json.loads(out.read_text())["moduleId"] == "@examples/hello"
    loud = CliRunner().invoke(cli, args[1:])
    assert loud.stdout.startswith("@examples/hello 1.0.0: ")  # progress goes to stderr


def test_a_configuration_is_found_upwards_from_the_working_directory(tmp_path, cache_dir):
    project = tmp_path / "project"
    (project / "deep" / "er").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.sandbench]\np95_degraded_ms = 0.000001\n")
    (project / "deep" / "pyproject.toml").write_text('[project]\nname = "x"\n')  # passed over
    found = find_config(project / "deep" / "er")
    assert found is not None
    assert found == (project / "pyproject.toml", {"p95_degraded_ms": 0.000001})
    args = ["-v", "check", HELLO, "-f", "json", "--cache-dir", str(cache_dir)]
    done = run(*args, cwd=project / "deep" / "er")
    assert f"sandbench: policy from {project / 'pyproject.toml'}" in done.stderr
    report = json.loads(done.stdout)
    assert "p95" in " ".join(report["reasons"])  # no p95 is under a microsecond
    # sandbench.toml in a nearer folder wins, and its whole file is the policy.
    (project / "deep" / "sandbench.toml").write_text("p95_degraded_ms = 5000\n")
    assert find_config(project / "deep" / "er") == (
        project / "deep" / "sandbench.toml",
        {"p95_degraded_ms": 5000},
    )
    # --policy wins over both.
    (tmp_path / "explicit.toml").write_text("p95_degraded_ms = 7000\n")
    done = run(*args, "--policy", str(tmp_path / "explicit.toml"), cwd=project / "deep" / "er")
    assert f"sandbench: policy from {tmp_path / 'explicit.toml'}" in done.stderr


def test_a_broken_configuration_is_an_input_error_naming_it(tmp_path):
    (tmp_path / "sandbench.toml").write_text("p95_degraded_ms = [\n")
    done = run("check", HELLO, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"sandbench: error: {tmp_path / 'sandbench.toml'}: not valid TOML"
    )


@pytest.mark.parametrize(
    ("env", "coloured"),
    [({}, False), ({"FORCE_COLOR": "1"}, True), ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False)],
)
def test_colour_only_when_asked_or_on_a_terminal(env, coloured, cache_dir):
    result = CliRunner().invoke(cli, ["check", HELLO, "--cache-dir", str(cache_dir)], env=env)
    first = result.stdout.splitlines()[0]  # the report; progress lines go to stderr
    assert ("\x1b[" in first) is coloured, first


def test_nightly_publish_reads_the_config_s_store_without_db(tmp_path):
    config = tmp_path / "nightly.toml"
    config.write_text(f'[nightly]\nstore = "history.db"\n[modules]\npaths = ["{HELLO}"]\n')
    result = CliRunner().invoke(
        cli, ["nightly", "publish", "--config", str(config), "--out", str(tmp_path / "site")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "history.db").is_file()  # the config's store, relative to the config
    missing = CliRunner().invoke(cli, ["nightly", "regressions"], env={"SANDBENCH_NIGHTLY_DB": ""})
    assert missing.exit_code == 2
