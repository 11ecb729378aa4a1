"""The command path's own plumbing (issue 17, item 2): `fd_write` into the capped sinks
(stdio.py), stdin from memory (wasi.py) and the pooling engine of command modules
(engines.py), each against real wasmtime and, where it answers for WASI, against
wasmtime's own WASI."""

from __future__ import annotations

import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import wasmtime

from sandbench.manifests import load
from sandbench.sandbox import Grants, Request, SandboxLimits, ViolationKind
from sandbench.sandbox.wasm import WasmBackend, engines
from sandbench.sandbox.wasm.engines import SLOTS, engine

from . import wat

MiB = 1024 * 1024
LIMITS = SandboxLimits(memory_bytes=16 * MiB, timeout_ms=2000)
_OPEN_IMPORT = (
    f'(import "{wat.WASI}" "path_open" (func $path_open '
    "(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"
)
_OPEN_NEW = (  # path "out.txt" at 64, O_CREAT, rights fd_write (1 << 6), new fd at 304
    "(call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 7) (i32.const 1) "
    "(i64.const 64) (i64.const 0) (i32.const 0) (i32.const 304))"
)


def _invoke(backend, make_module, source, grants=None, request=None, limits=LIMITS):
    result = backend.load(load(make_module(source)), limits, grants or Grants())
    assert result.instance is not None, result.violation
    with result.instance as instance:
        return instance.invoke(request or Request())


def _exit_with_write_errno(fd: int) -> str:
    return wat.command(
        f"(call $proc_exit (call $write (i32.const {fd}) (i32.const 64) (i32.const 2)))"
    )


def _wasi_errno(fd: int, bucket) -> int:
    """What wasmtime's own WASI answers to the same `fd_write` (with the same bucket)."""
    plain = wasmtime.Engine()
    linker = wasmtime.Linker(plain)
    linker.define_wasi()
    store = wasmtime.Store(plain)
    config = wasmtime.WasiConfig()
    config.preopen_dir(str(bucket), "/storage/docs", fs_mutable=True)
    store.set_wasi(config)
    module = wasmtime.Module(plain, _exit_with_write_errno(fd))
    start = linker.instantiate(store, module).exports(store)["_start"]
    try:
        start(store)
    except wasmtime.ExitTrap as exit_trap:
        return exit_trap.code
    raise AssertionError("the probe always exits")


def test_other_descriptors_get_the_errno_wasi_gives(backend, make_module, tmp_path):
    grants = Grants(storage_write={"docs": tmp_path})
    for fd in (0, 3, 99):
        outcome = _invoke(backend, make_module, _exit_with_write_errno(fd), grants)
        assert outcome.violation.kind is ViolationKind.EXIT
        assert outcome.violation.exit_code == _wasi_errno(fd, tmp_path) == 8  # EBADF


def test_all_iovecs_reach_stdout_and_stderr_is_kept(backend, make_module):
    head, body = b"Status: 201\n\n", b"two parts"
    source = wat.command(
        """
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 13))
    (i32.store (i32.const 8) (i32.const 77)) (i32.store (i32.const 12) (i32.const 9))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 2) (i32.const 16)))
    (drop (call $write (i32.const 2) (i32.const 86) (i32.const 4)))""",
        data=head + body + b"oops",
    )
    outcome = _invoke(backend, make_module, source)
    assert outcome.ok, outcome.violation
    assert (outcome.response.status, outcome.response.body) == (201, body)
    assert outcome.stderr == "oops"
    assert outcome.usage.output_bytes == len(head + body)


def test_iovecs_outside_memory_are_efault(backend, make_module):
    outcome = _invoke(
        backend,
        make_module,
        wat.command(
            "(call $proc_exit (call $write (i32.const 1) (i32.const 65530) (i32.const 100)))"
        ),
    )
    assert outcome.violation.exit_code == 21  # EFAULT, as WASI answers


def test_a_write_past_the_output_cap_fails_in_the_guest(backend, make_module):
    limits = LIMITS.model_copy(update={"output_bytes": 16})
    source = wat.command(
        "(drop (call $write (i32.const 1) (i32.const 64) (i32.const 16)))"
        "(call $proc_exit (call $write (i32.const 1) (i32.const 64) (i32.const 1)))",
        data=b"Status: 200\n\nabc",
    )
    outcome = _invoke(backend, make_module, source, limits=limits)
    assert outcome.violation.kind is ViolationKind.OUTPUT
    assert outcome.response is None


def test_a_file_the_module_opened_is_written_through_wasi(backend, make_module, tmp_path):
    source = wat.command(
        f"""
    (if {_OPEN_NEW} (then (call $proc_exit (i32.const 90))))
    (drop (call $write (i32.load (i32.const 304)) (i32.const 71) (i32.const 5)))
    (drop (call $write (i32.const 1) (i32.const 76) (i32.const 13)))""",
        data=b"out.txtsavedStatus: 200\n\n",
        imports=_OPEN_IMPORT,
    )
    outcome = _invoke(backend, make_module, source, Grants(storage_write={"docs": tmp_path}))
    assert outcome.ok, outcome.violation
    assert (tmp_path / "out.txt").read_bytes() == b"saved"


def test_the_body_is_stdin_from_memory(backend, make_module):
    read = f'(import "{wat.WASI}" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))'
    source = wat.command(
        """
    (i32.store (i32.const 0) (i32.const 77)) (i32.store (i32.const 4) (i32.const 64))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (call $write (i32.const 1) (i32.const 64) (i32.add (i32.const 13) (i32.load (i32.const 8)))))""",
        data=b"Status: 200\n\n",
        imports=read,
    )
    outcome = _invoke(backend, make_module, source, request=Request(method="POST", body=b"echoed"))
    assert outcome.ok, outcome.violation
    assert outcome.response.body == b"echoed"


def test_more_requests_than_pool_slots_all_run(backend, make_module):
    result = backend.load(load(make_module(wat.OK)), LIMITS, Grants())
    with result.instance as instance:
        outcomes = [instance.invoke(Request()) for _ in range(SLOTS + 10)]
    assert all(outcome.ok for outcome in outcomes)


# Answers what it finds in its memory, then dirties it: byte 77 of its data segment ("A"),
# a byte of its zero-filled second page and of a page it grows, each shown as "0" when zero.
_DIRTY = wat.command(
    """
  (i32.store8 (i32.const 78) (i32.add (i32.load8_u (i32.const 70000)) (i32.const 48)))
  (drop (memory.grow (i32.const 1)))
  (i32.store8 (i32.const 79) (i32.add (i32.load8_u (i32.const 131072)) (i32.const 48)))
  (drop (call $write (i32.const 1) (i32.const 64) (i32.const 16)))
  (i32.store8 (i32.const 77) (i32.const 90))
  (i32.store8 (i32.const 70000) (i32.const 1))
  (i32.store8 (i32.const 131072) (i32.const 1))""",
    data=b"Status: 200\n\nA",
    pages=2,
)


def test_nothing_a_request_leaves_in_linear_memory_reaches_the_next(backend, make_module):
    """Pool slots are reused (their first MiB zeroed in place rather than unmapped): every
    request still starts from the module's own initial memory."""
    result = backend.load(load(make_module(_DIRTY)), LIMITS, Grants())
    with result.instance as instance:
        outcomes = [instance.invoke(Request()) for _ in range(5)]
    assert [o.response.body for o in outcomes if o.ok] == [b"A00"] * 5


def test_a_compiled_module_serves_both_engines():
    """The artifact cache is shared by the default and the pooling engine."""
    artifact = wasmtime.Module(engine(), wat.OK).serialize()
    assert wasmtime.Module.deserialize(engine(pooling=True), artifact).exports


@pytest.fixture
def one_slot(tmp_path, monkeypatch):
    """A backend of its own whose command pool has one slot."""
    monkeypatch.setattr(engines, "SLOTS", 1)
    with WasmBackend(tmp_path / "cache") as backend:
        yield backend


def _while_the_only_slot_is_held(backend, make_module, seconds: float, timeout_ms: int):
    """Invoke wat.OK (with `timeout_ms`) while another request holds the only slot of
    `backend`'s pool, sleeping `seconds` in poll_oneoff; (its outcome, the sleeper's)."""
    sleep = wat.poll(struct.pack("<QBxxxxxxxIxxxxQQHxxxxxx", 1, 0, 1, int(seconds * 1e9), 0, 0))
    limits = LIMITS.model_copy(update={"timeout_ms": 10_000})
    sleeper = backend.load(load(make_module(sleep)), limits, Grants()).instance
    awake = backend.load(
        load(make_module(wat.OK)), limits.model_copy(update={"timeout_ms": timeout_ms}), Grants()
    ).instance
    slept = []
    thread = threading.Thread(target=lambda: slept.append(sleeper.invoke(Request())))
    thread.start()
    try:
        slots = backend._command.slots
        for _ in range(1000):  # until the sleeper holds the slot (at most 10 s)
            if not slots.acquire(blocking=False):
                break
            slots.release()
            time.sleep(0.01)
        assert thread.is_alive(), slept
        return awake.invoke(Request()), slept
    finally:
        thread.join()
        sleeper.close()
        awake.close()


def test_a_request_waits_for_a_pool_slot_instead_of_failing(one_slot, make_module):
    outcome, slept = _while_the_only_slot_is_held(one_slot, make_module, 2, 10_000)
    assert outcome.ok, outcome.violation  # it waited for the sleeper's slot
    assert slept[0].ok, slept[0].violation


def test_no_free_slot_within_the_timeout_is_a_timeout(one_slot, make_module):
    outcome, _ = _while_the_only_slot_is_held(one_slot, make_module, 3, 100)
    assert outcome.violation.kind is ViolationKind.TIMEOUT
    assert "slots" in outcome.violation.message


def test_under_an_address_space_limit_commands_run_without_the_pool(tmp_path):
    """wasmtime aborts when it cannot reserve the pool: with `ulimit -v` set, the backend
    keeps the default allocator (run in a child process, which the abort would kill)."""
    hello = Path(__file__).resolve().parents[2] / "examples" / "modules" / "hello"
    script = (
        "import resource\n"
        "from pathlib import Path\n"
        "resource.setrlimit(resource.RLIMIT_AS, (64 << 30, resource.RLIM_INFINITY))\n"
        "from sandbench.manifests import load\n"
        "from sandbench.sandbox import Grants, Request, SandboxLimits\n"
        "from sandbench.sandbox.wasm import WasmBackend\n"
        f"with WasmBackend(Path({str(tmp_path)!r})) as backend:\n"
        f"    result = backend.load(load(Path({str(hello)!r})), SandboxLimits(), Grants())\n"
        "    with result.instance as instance:\n"
        "        print(instance.invoke(Request()).response.status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout.strip()) == (0, "200"), done.stderr[-2000:]
