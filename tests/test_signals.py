"""SIGTERM and SIGINT clean up; SIGKILL's leftovers are swept. Real `sandbench` processes,
real signals; each run gets its own temp folder and an environment mark, so what it left
(folders, processes) is found exactly. A run is known to be in its module's call by the
progress line it prints on stderr just before the call (`[3/4] health calls`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from sandbench.sandbox.scratch import owner_tag, sweep_scratch

from .sandbox import wat

SANDBENCH = str(Path(sys.executable).parent / "sandbench")
WAIT_S = 120  # a bound on waiting for a state, never an expectation of speed


def marked(mark: str) -> list[psutil.Process]:
    """Live processes started by the run carrying `mark` (they inherit its environment)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("SANDBENCH_TEST_MARK") == mark:
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


class Run:
    """One `sandbench` process with a private TMPDIR and cache; its stderr goes to a file
    outside that TMPDIR, so the test can read its progress lines while it runs."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir()
        self.mark = uuid.uuid4().hex
        env = {**os.environ, "TMPDIR": str(self.tmp), "SANDBENCH_TEST_MARK": self.mark,
               "SANDBENCH_CACHE_DIR": str(tmp_path / "cache")}  # fmt: skip
        self.log = tmp_path / "stderr.txt"
        with self.log.open("w") as err:
            self.process = subprocess.Popen(
                [SANDBENCH, *args], env=env, stdout=subprocess.DEVNULL, stderr=err, text=True
            )

    def wait_for(self, state: Callable[[], bool]) -> None:
        ends = time.monotonic() + WAIT_S
        while not state():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < ends, f"the state never came: {self.log.read_text()}"
            time.sleep(0.05)

    def printed(self, text: str) -> Callable[[], bool]:
        """A state: `text` is in a line the run wrote to stderr."""
        return lambda: any(text in line for line in self.log.read_text().splitlines())

    def folders(self) -> list[str]:
        return sorted(p.name for p in self.tmp.iterdir())

    def stop(self, sig: signal.Signals) -> tuple[int, str]:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=WAIT_S)
        return code, self.log.read_text()


def stopped_cleanly(code: int, err: str, sig: signal.Signals) -> None:
    """A run stopped by `sig` exited with its code and its one line, no traceback."""
    assert code == (143 if sig is signal.SIGTERM else 130), err
    name = "SIGTERM" if sig is signal.SIGTERM else "Ctrl-C"
    assert (
        err.strip().splitlines()[-1] == f"sandbench: interrupted ({name}); stopped and cleaned up"
    )
    assert "Traceback" not in err


@pytest.fixture
def spinning(make_module):
    """A module whose health call spins until its 30 s timeout."""
    return make_module(wat.SPIN, limits={"memory": "16MiB", "cpu": "1", "timeout": "30s"})


# The progress line each command prints just before it calls the spinning module.
IN_CALL = {"check": "] health calls", "gate": "] health calls", "bench": "] 200 calls in process"}


@pytest.mark.parametrize("command", ["check", "gate", "bench"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_run_cleans_up_and_exits_in_one_line(tmp_path, spinning, command, sig):
    run = Run(tmp_path, command, str(spinning))
    run.wait_for(run.printed(IN_CALL[command]))
    time.sleep(0.5)  # well into the spinning call (or about to start it: either must clean up)
    stopped_cleanly(*run.stop(sig), sig)
    assert run.folders() == []
    assert marked(run.mark) == []


@pytest.mark.parametrize("serving", [False, True], ids=["starting", "serving"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stopped_by_a_signal_leaves_nothing(tmp_path, spinning, sig, serving):
    """Caught while starting (its storage folder made, the backend opening: exit 143/130,
    or 0 when starting was quicker than the signal) or while serving (uvicorn's clean 0)."""
    run = Run(tmp_path, "serve", str(spinning), "--port", "0", "--instances", "1")
    if serving:
        run.wait_for(run.printed("sandbench: serving on http://127.0.0.1:"))
    else:
        run.wait_for(lambda: any(n.startswith("sandbench-storage-") for n in run.folders()))
    code, err = run.stop(sig)
    assert code in ((0,) if serving else (0, 143 if sig is signal.SIGTERM else 130)), err
    assert "Traceback" not in err
    assert run.folders() == []
    assert marked(run.mark) == []


def test_sigterm_while_scanning_kills_the_scanners(tmp_path, spinning):
    (spinning / "app.py").write_text("import os\nos.system('true')\n" * 200)
    run = Run(tmp_path, "gate", str(spinning))
    run.wait_for(lambda: len(marked(run.mark)) > 1)  # a scanner tool or child is running
    code, err = run.stop(signal.SIGTERM)
    assert code == 143, err
    assert marked(run.mark) == []
    assert run.folders() == []


def _catches_sigterm(pid: int) -> bool:
    """True once the process handles SIGTERM: sandbench's first lines ran (CPython itself
    catches only SIGINT, and a signal during CPython's own start-up is not ours to shape)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(
        next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16
    )
    return bool(caught & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("delay_s", [0.0, 0.05, 0.2])
def test_ctrl_c_during_start_up_is_one_line_and_130(tmp_path, spinning, delay_s):
    run = Run(tmp_path, "gate", str(spinning))
    run.wait_for(lambda: _catches_sigterm(run.process.pid))
    time.sleep(delay_s)  # still importing the CLI, or past it
    code, err = run.stop(signal.SIGINT)
    assert code == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines() == ["sandbench: interrupted (Ctrl-C); stopped and cleaned up"]
    assert run.folders() == []


# A `sandbench` whose CLI object raises the signal's exception at `where`, as a signal
# landing there would.
SIGNALLED_AT = """
import sys
from sandbench import _entry
from sandbench.cli import cli
from sandbench.interrupts import Terminated

where, name = sys.argv[1:]

def signalled(*_args, **_kwargs):
    raise Terminated(15) if name == "SIGTERM" else KeyboardInterrupt()

setattr(cli, where, signalled)
sys.argv[1:] = ["gate", "."]
_entry.main()
"""


@pytest.mark.parametrize("where", ["make_context", "parse_args"])
@pytest.mark.parametrize("name", ["SIGTERM", "Ctrl-C"])
def test_a_signal_while_click_starts_is_one_line_too(tmp_path, where, name):
    """Outside the command's `invoke`, click turns the signal's exception into `Abort`
    ("sandbench: aborted", exit 1): seen in CI when Ctrl-C came while arguments were parsed."""
    done = subprocess.run(
        [sys.executable, "-c", SIGNALLED_AT, where, name],
        capture_output=True, text=True, cwd=tmp_path, timeout=WAIT_S, check=False,
    )  # fmt: skip
    assert done.returncode == (143 if name == "SIGTERM" else 130), done.stderr
    assert done.stderr.strip().splitlines() == [
        f"sandbench: interrupted ({name}); stopped and cleaned up"
    ]


def test_after_sigkill_sweep_removes_only_the_dead_process_folders(tmp_path, spinning):
    run = Run(tmp_path, "check", str(spinning))
    run.wait_for(run.printed(IN_CALL["check"]))
    code, _ = run.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL
    left = run.folders()
    assert [n.split("-")[1] for n in left] == ["storage"]  # its storage buckets' root
    assert all(n.split("-")[2] == str(run.process.pid) for n in left)
    dead_budgets = run.tmp / f"sandbench-budgets-{run.process.pid}-{left[0].split('-')[3]}-x"
    dead_budgets.mkdir()  # what a killed `serve --workers` leaves (another kind it sweeps)
    live = run.tmp / f"sandbench-storage-{owner_tag()}-mine"  # this test process: alive
    live.mkdir()
    other = run.tmp / f"sandbench-archive-{run.process.pid}-1-x"  # not a kind it sweeps
    other.mkdir()
    unnamed = run.tmp / "sandbench-storage-oldstyle"  # no owner: cannot be judged
    unnamed.mkdir()
    env = {**os.environ, "TMPDIR": str(run.tmp)}
    done = subprocess.run([SANDBENCH, "sweep"], env=env, capture_output=True, text=True,
                          timeout=WAIT_S, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "removed 2 leftover temporary folder(s)" in done.stdout
    assert run.folders() == sorted([live.name, other.name, unnamed.name])


def test_every_command_sweeps_dead_folders_at_start(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    start = 12345
    leftover = tmp_path / f"sandbench-storage-{dead.pid}-{start}-abc"
    leftover.mkdir()
    (leftover / "bucket").mkdir()
    live = tmp_path / f"sandbench-storage-{owner_tag()}-abc"
    live.mkdir()
    assert sweep_scratch(tmp_path) == [leftover]
    assert not leftover.exists()
    assert live.exists()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    leftover.mkdir()
    schema = subprocess.run([SANDBENCH, "manifest", "schema"], env=env, capture_output=True,
                            check=False, timeout=WAIT_S)  # fmt: skip
    assert schema.returncode == 0
    assert json.loads(schema.stdout)
    assert not leftover.exists()


@pytest.mark.docker
def test_sigterm_removes_the_running_container(tmp_path):
    from tests.conftest import EXAMPLES
    from tests.sandbox.conftest import backend_leftovers

    try:
        from sandbench.sandbox.container import ContainerBackend

        ContainerBackend().close()
    except Exception as exc:
        pytest.skip(f"no Docker Engine: {exc}")
    run = Run(tmp_path, "check", str(EXAMPLES / "python-http"))
    run.wait_for(lambda: bool(backend_leftovers(run.process.pid)))  # its container runs
    code, err = run.stop(signal.SIGTERM)
    assert code == 143, err
    assert backend_leftovers(run.process.pid) == []
    assert run.folders() == []
    assert marked(run.mark) == []


GONE_S = 10


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_a_compile_kills_the_compiler_and_leaves_nothing(
    tmp_path, make_module, sig
):
    """The compile child (its own process group: the terminal's Ctrl-C does not reach it)
    is killed with its run; no artifact, record or temp file stays.

    The signal comes as soon as the child runs the script: often before sandbench's
    `Popen` has returned (both wake at the child's exec), so sandbench never learns of
    the child. The child then ends itself when it sees sandbench gone (its first lines,
    or the kernel's parent-death signal): it is given `GONE_S` for that, far more than an
    interpreter's start and far less than the compile it would otherwise finish."""
    module = make_module(wat.many_functions(60_000), abi="reactor")  # seconds to compile
    run = Run(tmp_path, "check", str(module))
    run.wait_for(lambda: _compiling(run.mark))
    stopped_cleanly(*run.stop(sig), sig)
    ends = time.monotonic() + GONE_S
    while marked(run.mark) and time.monotonic() < ends:
        time.sleep(0.05)
    assert marked(run.mark) == []
    assert run.folders() == []
    assert [p.name for p in (tmp_path / "cache" / "wasm").iterdir()] == [".hmac-key"]


def _compiling(mark: str) -> bool:
    """Whether the run carrying `mark` has a compile child running."""
    for process in marked(mark):
        try:
            if "_compile_child.py" in " ".join(process.cmdline()):
                return True
        except psutil.Error:
            continue
    return False
