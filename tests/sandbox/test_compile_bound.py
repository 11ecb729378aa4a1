"""Every compile runs in a child process within the policy's compile bounds: a module past
the memory or time bound is one line naming the file (exit 2) and leaves no child, temp
file or cache entry; an ordinary module compiles there and its artifact serves both
engines from the cache; an interrupt kills a running compile. Real wasmtime, real
processes, hostile modules written at run time; no test depends on the machine's speed (the
bounds are far below what the modules need, and durations are never asserted)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest
import wasmtime

import sandbench
from sandbench.errors import CompileLimitError
from sandbench.interrupts import interrupt
from sandbench.manifests import load
from sandbench.reports import Policy, Status
from sandbench.sandbox import (
    CompileBounds,
    Grants,
    LoadResult,
    Request,
    SandboxLimits,
    ViolationKind,
)
from sandbench.sandbox.wasm import WasmBackend
from sandbench.sandbox.wasm.backend import WAT_IN_PROCESS
from sandbench.sandbox.wasm.compiler import COMPILE_IN_PROCESS
from tests.test_signals import SANDBENCH, WAIT_S, marked

from . import wat

STOPPED = "compiling it was stopped (the gate's deadline passed, or an interrupt)"
LIMITS = SandboxLimits(memory_bytes=16 * 1024 * 1024, cpu_millicores=1000, timeout_ms=1000)
# 30,000 functions need some 370 MB to compile here: far past 128 MiB on any machine.
HUNGRY = 30_000
# 60,000 functions take seconds of CPU to compile here: far past 0.5 s on any machine.
SLOW = 60_000


def _gate(
    tmp_path: Path, module: Path, policy: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    """`sandbench check MODULE --policy` with a private TMPDIR and cache, and a mark in the
    environment (inherited by every child): (the run, its mark)."""
    (tmp_path / "policy.toml").write_text(policy)
    (tmp_path / "tmp").mkdir()
    mark = uuid.uuid4().hex
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "SANDBENCH_TEST_MARK": mark,
           "SANDBENCH_CACHE_DIR": str(tmp_path / "cache")}  # fmt: skip
    done = subprocess.run(
        [SANDBENCH, "check", str(module), "--policy", str(tmp_path / "policy.toml")],
        env=env, capture_output=True, text=True, timeout=WAIT_S, check=False,
    )  # fmt: skip
    return done, mark


def _artifacts(cache: Path) -> list[str]:
    """The cache's entries (artifacts and compile records), not its key."""
    folder = cache / "wasm"
    return (
        sorted(p.name for p in folder.iterdir() if p.name != ".hmac-key") if folder.exists() else []
    )


@pytest.mark.parametrize(
    ("count", "policy", "expected"),
    [
        (HUNGRY, 'compile_memory = "128MiB"\n', "compiling it needs more than 128MiB of memory"),
        (SLOW, "compile_timeout_s = 0.5\n", "compiling it takes more than 0.5 s"),
        # 10 MB of text, converted in the child (above WAT_IN_PROCESS): some 200 MB.
        (2 * SLOW, 'compile_memory = "96MiB"\n', "compiling it needs more than 96MiB of memory"),
    ],
    ids=["memory", "time", "wat-memory"],
)
def test_a_compile_past_its_bound_is_one_line_and_leaves_nothing(
    tmp_path, make_module, count, policy, expected
):
    module = make_module(wat.many_functions(count), abi="reactor")
    done, mark = _gate(tmp_path, module, policy)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("sandbench: error:")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"sandbench: error: {module / 'module.wat'}: {expected} (policy ")
    assert "make the module smaller" in errors[0]
    assert "Traceback" not in done.stderr
    assert marked(mark) == []
    assert list((tmp_path / "tmp").iterdir()) == []
    assert _artifacts(tmp_path / "cache") == []


def test_an_ordinary_module_compiles_in_the_child_and_serves_both_engines(tmp_path, make_module):
    """Compiled once (a command, pooling engine), then loaded from the cache as a reactor
    (default engine) and as a command again, by another backend: all answer alike."""
    command = load(make_module(wat.BOTH_ABIS, abi="command"))
    reactor = load(make_module(wat.BOTH_ABIS, abi="reactor"))
    assert len(wasmtime.wat2wasm(wat.BOTH_ABIS)) > COMPILE_IN_PROCESS
    bounds = CompileBounds(memory=256 << 20, timeout_s=WAIT_S)
    before = _children()
    with WasmBackend(tmp_path / "cache", compile_bounds=bounds) as backend:
        first = backend.load(command, LIMITS, Grants())
        assert not first.cache_hit
        assert _answer(first) == b"ok"
    assert len([n for n in _artifacts(tmp_path / "cache") if n.endswith(".cwasm")]) == 1
    with WasmBackend(tmp_path / "cache", compile_bounds=bounds) as backend:
        for package in (reactor, command):
            again = backend.load(package, LIMITS, Grants())
            assert again.cache_hit, package.manifest.runtime.abi
            assert _answer(again) == b"ok"
    assert _children() == before


def _compiling() -> bool:
    """Whether a child of this process compiles a module now."""
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            # python -I _compile_child.py PARENT_PID KIND ...
            if child.cmdline()[4:5] == ["module"]:
                return True
    return False


def _children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


def _answer(result) -> bytes:
    assert result.violation is None, result.violation
    with result.instance as instance:
        outcome = instance.invoke(Request())
    assert outcome.ok, outcome.violation
    return outcome.response.body


@pytest.mark.parametrize("memory", [8 << 20, 32 << 20])
def test_a_module_above_the_in_process_size_compiles_in_the_child(tmp_path, make_module, memory):
    """A bound too small for the child's own runtime stops the larger module (so it was
    compiled there, and the failure reads as one of memory); the small one compiles here."""
    bounds = CompileBounds(memory=memory, timeout_s=WAIT_S)
    with WasmBackend(tmp_path / "cache", compile_bounds=bounds) as backend:
        small = backend.load(load(make_module(wat.OK)), LIMITS, Grants())
        assert _answer(small).startswith(b"ok")
        with pytest.raises(CompileLimitError, match=r"compiling it needs more than \d+MiB of"):
            backend.load(load(make_module(wat.BOTH_ABIS)), LIMITS, Grants())


def test_invalid_wasm_from_the_child_is_an_invalid_module_as_before(tmp_path, make_module):
    package = load(make_module(b"\x00asm\x01\x00\x00\x00garbage" + bytes(COMPILE_IN_PROCESS)))
    with WasmBackend(tmp_path / "cache") as backend:
        result = backend.load(package, LIMITS, Grants())
    assert result.violation is not None
    assert result.violation.kind is ViolationKind.INVALID_MODULE
    assert "garbage" not in result.violation.message  # wasmtime's first line, not our bytes
    assert "\n" not in result.violation.message
    assert _artifacts(tmp_path / "cache") == []


def test_a_large_wat_converts_in_the_child_and_its_errors_read_as_before(tmp_path, make_module):
    text = wat.many_functions(SLOW)
    assert len(text) > WAT_IN_PROCESS
    lines = text.count("\n") + 1
    package = load(make_module(text[:-1] + "(memory 1\n"))  # the last `)` missing
    with WasmBackend(tmp_path / "cache") as backend:
        result = backend.load(package, LIMITS, Grants())
    assert result.violation is not None
    assert result.violation.kind is ViolationKind.INVALID_MODULE
    assert result.violation.message == f"module.wat:{lines + 1}:1: expected `)`"
    assert _artifacts(tmp_path / "cache") == []


def test_an_interrupt_kills_a_compile_running_in_another_thread(tmp_path, make_module):
    """The SIGINT/SIGTERM callbacks (`interrupt`) kill the child of a compile that runs
    outside the main thread (the gateway's); its load fails as a timeout."""
    package = load(make_module(wat.many_functions(SLOW), abi="reactor"))
    results: list[LoadResult] = []
    before = _children()
    with WasmBackend(tmp_path / "cache") as backend:
        worker = threading.Thread(
            target=lambda: results.append(backend.load(package, LIMITS, Grants()))
        )
        worker.start()
        ends = time.monotonic() + WAIT_S
        while not _compiling():  # the compile itself, not the .wat's conversion before it
            assert worker.is_alive()
            assert time.monotonic() < ends
            time.sleep(0.02)
        interrupt()
        worker.join(WAIT_S)
    assert [(r.violation.kind, r.violation.message) for r in results if r.violation] == [
        (ViolationKind.TIMEOUT, STOPPED)
    ]
    assert _children() == before
    assert _artifacts(tmp_path / "cache") == []


def test_the_gates_deadline_stops_a_compile_and_fails_the_gate(tmp_path, make_module):
    """150,000 functions take 25-35 s to compile here (1.8 GB: the bound is raised so that
    only the deadline stops it); the gate's 6 s deadline kills the child (the steps before
    the load take well under a second, leaving the load its start on a busy machine)."""
    binary = bytes(wasmtime.wat2wasm(wat.many_functions(150_000)))  # one child: the compile
    root = make_module(binary, abi="reactor")
    before = _children()
    bounds = CompileBounds(memory=16 << 30, timeout_s=WAIT_S)
    with WasmBackend(tmp_path / "cache", compile_bounds=bounds) as backend:
        policy = Policy(gate_deadline_s=6.0)
        report = sandbench.gate(root, policy=policy, backend=backend, scanners=(), load_test=None)
    deadline = next(r for r in report.rules if r.rule == "gate-deadline")
    assert deadline.status is Status.CRITICAL
    assert report.status is Status.CRITICAL
    assert [(v.kind, v.message) for v in report.violations] == [("timeout", STOPPED)]
    assert _children() == before
    assert _artifacts(tmp_path / "cache") == []
