"""Budgets and the gate's deadline: past them the work stops, the gate fails closed with the
reason, and nothing it started is left running. Real scanners, real wasmtime, real
`sandbench` processes; no assertion about how fast anything is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import psutil

import sandbench
from sandbench.manifests import load
from sandbench.reports import Policy, Status
from sandbench.scanners import ScanPolicy, default_scanners, scan_all

from .conftest import EXAMPLES
from .sandbox import wat
from .test_signals import marked

SPIN_LIMITS = {"memory": "16MiB", "cpu": "1", "timeout": "30s"}


def rule(report: dict, name: str) -> dict:
    return next(r for r in report["rules"] if r["rule"] == name)


def test_scanners_past_their_budget_are_not_done_and_leave_nothing_running():
    package = load(EXAMPLES / "python-http")
    policy = ScanPolicy(scan_budget_s=0.001)  # no tool or child interpreter starts that fast
    report = scan_all(package, default_scanners(policy), policy)
    late = {r.scanner for r in report.results if r.skipped_reason and "budget" in r.skipped_reason}
    assert {"bandit", "capabilities", "licenses", "malware", "manifest-lint"} <= late
    assert report.failed  # a scanner that is not done fails the scan
    assert psutil.Process().children(recursive=True) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("scan")]


def test_within_budget_every_scanner_runs_in_its_process():
    package = load(EXAMPLES / "python-http")
    report = scan_all(package, default_scanners(ScanPolicy()), ScanPolicy())
    assert report.skipped == ()
    assert psutil.Process().children(recursive=True) == []


def test_the_deadline_stops_a_spinning_health_call_and_fails_the_gate(backend, make_module):
    """The module may spin for its 30 s timeout; the gate's 1 s deadline cuts that call."""
    root = make_module(wat.SPIN, limits=SPIN_LIMITS)
    policy = Policy(gate_deadline_s=1.0)
    report = sandbench.gate(root, policy=policy, backend=backend, scanners=(), load_test=None)
    deadline = next(r for r in report.rules if r.rule == "gate-deadline")
    assert report.status is Status.CRITICAL
    assert deadline.status is Status.CRITICAL
    assert "gate_deadline_s" in deadline.message
    assert "gate-deadline" in report.reasons
    assert report.violations[0].kind == "timeout"


def test_a_gate_within_its_deadline_says_so(backend):
    report = sandbench.gate(EXAMPLES / "hello", backend=backend, scanners=(), load_test=None)
    deadline = next(r for r in report.rules if r.rule == "gate-deadline")
    assert deadline.status is Status.HEALTHY
    assert "of 120 s" in deadline.message


def test_sandbench_gate_past_its_deadline_reports_and_leaves_nothing(make_module, tmp_path):
    """A real `sandbench gate` with every scanner and the load test on, a module that spins
    and Python for bandit to read: exit 1 with the report, no process, no temp folder left."""
    root = make_module(wat.SPIN, limits=SPIN_LIMITS)
    (root / "app.py").write_text("import subprocess\nsubprocess.call('ls', shell=True)\n" * 50)
    policy = tmp_path / "policy.toml"
    policy.write_text("gate_deadline_s = 3\n")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    mark = uuid.uuid4().hex
    env = {**os.environ, "TMPDIR": str(scratch), "SANDBENCH_TEST_MARK": mark,
           "SANDBENCH_CACHE_DIR": str(tmp_path / "cache")}  # fmt: skip
    done = subprocess.run(
        [str(Path(sys.executable).parent / "sandbench"), "gate", str(root), "--policy", str(policy),
         "--format", "json"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "critical"
    deadline = rule(report, "gate-deadline")
    assert deadline["status"] == "critical"
    assert "deadline of 3 s" in deadline["message"]
    assert "Traceback" not in done.stderr
    assert marked(mark) == []
    assert list(scratch.iterdir()) == []
