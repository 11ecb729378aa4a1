"""Progress on stderr: a line per step when not a TTY, a bar redrawn in place on a TTY,
nothing with -q; and the cold load measured once per artifact (`--cold` measures again)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

from click.testing import CliRunner

from sandbench.cli import cli
from tests.conftest import EXAMPLES

STEP = re.compile(r"^\[(\d+)/(\d+)\] ")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_without_a_tty_each_step_is_one_line_on_stderr(tmp_path):
    result = invoke("check", str(EXAMPLES / "hello"), "--cache-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert [STEP.sub("", line) for line in lines[:4]] == [
        "validating", "loading", "health calls", "assessing"]  # fmt: skip
    assert lines[4].startswith("[4/4] done: healthy in ")
    assert len(lines) == 5
    assert "\r" not in result.stderr
    assert result.stdout.startswith("@examples/hello 1.0.0: HEALTHY\n")


def test_quiet_shows_no_progress(tmp_path):
    result = invoke("check", "-q", str(EXAMPLES / "hello"), "--cache-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.startswith("@examples/hello 1.0.0: HEALTHY\n")


def test_on_a_tty_one_bar_is_redrawn_in_place(tmp_path):
    leader, follower = pty.openpty()
    script = "from sandbench._entry import main; main()"
    args = [sys.executable, "-c", script, "check", str(EXAMPLES / "hello")]
    env = {**os.environ, "SANDBENCH_CACHE_DIR": str(tmp_path)}
    with subprocess.Popen(
        [*args, "--cache-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
    ) as process:
        os.close(follower)
        stdout, _ = process.communicate(timeout=300)
        seen = _drain(leader)
    assert process.returncode == 0, seen
    assert seen.count("\r[") >= 4, seen
    assert re.search(r"\[#+-*\] \d/4 ", seen), seen
    assert "] 4/4 healthy (" in seen, "the finished bar stays as one summary line"
    assert "[1/4] validating\n" not in seen, "no line per step on a TTY"
    assert stdout.decode().startswith("@examples/hello 1.0.0: HEALTHY")


def _drain(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_the_cold_load_is_measured_once_and_cold_measures_again(tmp_path):
    args = ("check", str(EXAMPLES / "hello"), "--cache-dir", str(tmp_path))
    first = invoke(*args)
    again = invoke(*args)
    cold = invoke(*args, "--cold")
    assert first.exit_code == again.exit_code == cold.exit_code == 0, again.output
    assert "measured when compiled, at" not in first.stdout, "the first check compiled"
    assert "measured when compiled, at" in again.stdout
    assert "[2/4] loading (compiling)" in cold.stderr
    assert "measured when compiled, at" not in cold.stdout
    assert list((tmp_path / "wasm").glob("*.compile.json")), "kept beside the artifact"
