"""The WASM backend on real wasmtime: every limit, every ABI path, the cache."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from sandbench.errors import SandboxError
from sandbench.manifests import load
from sandbench.sandbox import (
    Grants,
    Request,
    SandboxLimits,
    ViolationKind,
    cgi_environment,
)
from sandbench.sandbox.budget import FUEL_PER_CPU_SECOND_MAX
from sandbench.sandbox.wasm import WasmBackend

from . import wat

MiB = 1024 * 1024
LIMITS = SandboxLimits(memory_bytes=16 * MiB, cpu_millicores=1000, timeout_ms=1000)


@pytest.fixture
def bucket(tmp_path):
    path = tmp_path / "bucket"
    path.mkdir()
    return path


def run(backend, make_module, source, request=None, limits=LIMITS, grants=None, **kw):
    """Load `source` and invoke it once; returns (load result, outcome or None)."""
    package = load(make_module(source, **kw))
    result = backend.load(package, limits, grants or Grants())
    if result.instance is None:
        return result, None
    with result.instance as instance:
        return result, instance.invoke(request or Request())


def test_command_answers_with_parsed_cgi_response(backend, make_module):
    result, outcome = run(backend, make_module, wat.OK)
    assert result.violation is None
    assert result.dependencies == {"wasi_snapshot_preview1": True}
    assert outcome.ok
    assert outcome.response.status == 200
    assert outcome.response.headers == (("content-type", "text/plain"),)
    assert outcome.response.body == b"ok\n"
    assert outcome.usage.fuel > 0
    assert outcome.usage.memory_bytes == 65536


def test_request_body_arrives_on_stdin(backend, make_module):
    _, outcome = run(backend, make_module, wat.ECHO, Request(method="POST", body=b"hello body"))
    assert outcome.ok, outcome.violation
    assert outcome.response.body == b"hello body"


def test_environment_is_only_the_cgi_variables(backend, make_module, monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN", "do-not-leak")
    request = Request(headers=(("x-trace-id", "1"), ("content-type", "text/csv")))
    _, outcome = run(backend, make_module, wat.ENV_COUNT, request)
    assert outcome.violation.kind is ViolationKind.EXIT
    assert outcome.violation.exit_code == len(cgi_environment(request, "@tests/module"))


def test_arguments_are_only_the_module_name(backend, make_module):
    _, outcome = run(backend, make_module, wat.ARG_COUNT)
    assert outcome.violation.exit_code == 1


def test_no_directory_is_preopened_without_a_storage_permission(backend, make_module):
    _, outcome = run(backend, make_module, wat.PRESTAT_FD3)
    assert outcome.violation.exit_code == 8  # WASI EBADF: fd 3 does not exist


def test_a_storage_permission_preopens_its_bucket(backend, make_module, tmp_path):
    grants = Grants(storage_read={"docs": tmp_path})
    _, outcome = run(backend, make_module, wat.PRESTAT_FD3, grants=grants)
    # fd_prestat_get(3) returned 0, so the module exited 0 having written nothing.
    assert outcome.violation.kind is ViolationKind.PROTOCOL
    assert outcome.violation.message.startswith("the module wrote no response")


def test_a_read_bucket_can_be_read(backend, make_module, bucket):
    (bucket / "data.txt").write_bytes(b"bucket content")
    grants = Grants(storage_read={"docs": bucket})
    _, outcome = run(backend, make_module, wat.READ_BUCKET_FILE, grants=grants)
    assert outcome.ok, outcome.violation
    assert outcome.response.body == b"bucket content"


def test_a_read_bucket_cannot_be_written(backend, make_module, bucket):
    grants = Grants(storage_read={"docs": bucket})
    _, outcome = run(backend, make_module, wat.WRITE_BUCKET_FILE, grants=grants)
    assert outcome.violation.kind is ViolationKind.EXIT
    assert outcome.violation.exit_code == 63  # WASI EPERM
    assert list(bucket.iterdir()) == []


def test_a_write_bucket_can_be_written(backend, make_module, bucket):
    grants = Grants(storage_write={"out": bucket})
    _, outcome = run(backend, make_module, wat.WRITE_BUCKET_FILE, grants=grants)
    assert outcome.ok, outcome.violation
    assert outcome.response.status == 201
    assert (bucket / "out.txt").read_bytes() == b"written"


def test_files_written_past_the_storage_limit_are_a_violation(backend, make_module, bucket):
    grants = Grants(storage_write={"out": bucket})
    small = SandboxLimits(memory_bytes=16 * MiB, storage_bytes=5)  # the module writes 7 bytes
    _, outcome = run(backend, make_module, wat.WRITE_BUCKET_FILE, grants=grants, limits=small)
    assert outcome.violation.kind is ViolationKind.STORAGE
    assert outcome.violation.message.startswith("the writable buckets hold 7 bytes")
    assert outcome.response is None


def test_there_is_no_socket_to_use(backend, make_module):
    _, outcome = run(backend, make_module, wat.SOCKET_ACCEPT)
    assert outcome.violation.exit_code == 8  # WASI EBADF: no socket was preopened


def test_spin_runs_out_of_fuel_as_a_cpu_violation(backend, make_module):
    # 10 ms of CPU (1m x 10 s): the fuel runs out long before the deadline, even on a
    # machine so busy that this thread gets a small share of a core.
    limits = SandboxLimits(memory_bytes=16 * MiB, cpu_millicores=1, timeout_ms=10_000)
    _, outcome = run(backend, make_module, wat.SPIN, limits=limits)
    assert outcome.violation.kind is ViolationKind.CPU
    # A first call gets its 10 ms of CPU as fuel at the highest rate seen (docs/abi.md).
    assert outcome.usage.fuel == FUEL_PER_CPU_SECOND_MAX // 100
    assert "ms of CPU" in outcome.violation.message
    assert "limits.cpu" in outcome.violation.message


def test_spin_hits_the_wall_clock_deadline_as_a_timeout(backend, make_module):
    limits = SandboxLimits(memory_bytes=16 * MiB, cpu_millicores=64_000, timeout_ms=100)
    _, outcome = run(backend, make_module, wat.SPIN, limits=limits)
    assert outcome.violation.kind is ViolationKind.TIMEOUT
    assert outcome.usage.wall_ms >= 100  # no upper bound: a busy machine is slower


@pytest.mark.parametrize(
    ("limits", "kind"),
    [
        (SandboxLimits(cpu_millicores=1, timeout_ms=10_000), ViolationKind.CPU),
        (SandboxLimits(cpu_millicores=64_000, timeout_ms=100), ViolationKind.TIMEOUT),
    ],
)
def test_a_spinning_start_function_is_stopped_during_instantiation(
    backend, make_module, limits, kind
):
    _, outcome = run(backend, make_module, wat.SPIN_START, limits=limits)
    assert outcome.violation.kind is kind
    assert outcome.violation.phase == "instantiate"


def test_memory_growth_is_refused_at_the_limit(backend, make_module):
    _, outcome = run(backend, make_module, wat.MEMORY_BOMB)
    assert outcome.violation.kind is ViolationKind.MEMORY
    assert outcome.usage.memory_bytes <= 16 * MiB
    assert outcome.usage.memory_bytes > 15 * MiB


def test_initial_memory_above_the_limit_fails_instantiation(backend, make_module):
    _, outcome = run(backend, make_module, wat.BIG_INITIAL_MEMORY)
    assert outcome.violation.kind is ViolationKind.MEMORY
    assert outcome.violation.phase == "instantiate"


def test_output_flood_is_capped(backend, make_module):
    limits = SandboxLimits(memory_bytes=16 * MiB, output_bytes=64 * 1024, timeout_ms=1000)
    _, outcome = run(backend, make_module, wat.FLOOD, limits=limits)
    assert outcome.violation.kind is ViolationKind.OUTPUT
    assert outcome.response is None
    assert "65536-byte cap" in outcome.violation.message


def test_stack_overflow_is_its_own_violation(backend, make_module):
    _, outcome = run(backend, make_module, wat.STACK)
    assert outcome.violation.kind is ViolationKind.STACK


def test_trap_carries_the_trap_message(backend, make_module):
    _, outcome = run(backend, make_module, wat.TRAP)
    assert outcome.violation.kind is ViolationKind.TRAP
    assert "unreachable" in outcome.violation.message


def test_exit_status_is_a_violation_with_the_code(backend, make_module):
    _, outcome = run(backend, make_module, wat.EXIT_3)
    assert outcome.violation.kind is ViolationKind.EXIT
    assert outcome.violation.exit_code == 3


def test_output_that_is_not_cgi_is_a_protocol_violation(backend, make_module):
    _, outcome = run(backend, make_module, wat.BAD_RESPONSE)
    assert outcome.violation.kind is ViolationKind.PROTOCOL
    assert "no empty line" in outcome.violation.message


def test_unknown_import_fails_at_load_naming_it(backend, make_module):
    result, outcome = run(backend, make_module, wat.UNKNOWN_IMPORT)
    assert outcome is None
    assert result.violation.kind is ViolationKind.UNKNOWN_IMPORT
    assert "env::launch_missiles" in result.violation.message
    assert result.dependencies == {"env": False}


def test_missing_start_export_is_an_invalid_module(backend, make_module):
    result, _ = run(backend, make_module, wat.NO_START)
    assert result.violation.kind is ViolationKind.INVALID_MODULE
    assert "_start" in result.violation.message


def test_a_wat_syntax_error_names_the_file_line_and_column(backend, make_module):
    broken = "(module\n  (func $f (result i32)\n    i32.const 1\n  )\n(memory 1\n"
    result, _ = run(backend, make_module, broken)
    assert result.violation.kind is ViolationKind.INVALID_MODULE
    # wasmtime's caret diagram, as one line: the place in module.wat, then what it expected.
    assert result.violation.message == "module.wat:6:1: expected `)`"


def test_garbage_bytes_are_an_invalid_module(backend, make_module):
    result, _ = run(backend, make_module, b"\x00asm\x01\x00\x00\x00garbage")
    assert result.violation.kind is ViolationKind.INVALID_MODULE


def test_reactor_keeps_state_between_calls(backend, make_module):
    package = load(make_module(wat.REACTOR, abi="reactor"))
    result = backend.load(package, LIMITS, Grants())
    with result.instance as instance:
        bodies = [instance.invoke(Request()).response.body for _ in range(3)]
    assert bodies == [b"n=1", b"n=2", b"n=3"]


def test_trapped_reactor_is_replaced_by_a_fresh_instance(backend, make_module):
    package = load(make_module(wat.REACTOR, abi="reactor"))
    with backend.load(package, LIMITS, Grants()).instance as instance:
        assert instance.invoke(Request()).response.body == b"n=1"
        trapped = instance.invoke(Request(body=b"x" * 500))  # handler traps on big requests
        assert trapped.violation.kind is ViolationKind.TRAP
        again = instance.invoke(Request())
    assert again.response.body == b"n=1"  # global state reset: a new instance
    assert again.usage.instantiate_ms > 0


def test_reactor_initializer_that_spins_fails_the_load(backend, make_module):
    # 10 ms of CPU under a 10 s deadline: the fuel stops it first, however busy the machine.
    limits = SandboxLimits(cpu_millicores=1, timeout_ms=10_000)
    package = load(make_module(wat.REACTOR_SPIN_INIT, abi="reactor"))
    result = backend.load(package, limits, Grants())
    assert result.instance is None
    assert result.violation.kind is ViolationKind.CPU
    assert result.violation.phase == "instantiate"


def test_reactor_pointer_outside_memory_is_a_protocol_violation(backend, make_module):
    package = load(make_module(wat.REACTOR_BAD_POINTER, abi="reactor"))
    with backend.load(package, LIMITS, Grants()).instance as instance:
        outcome = instance.invoke(Request())
    assert outcome.violation.kind is ViolationKind.PROTOCOL
    assert "outside memory" in outcome.violation.message


def test_cpu_share_throttles_a_module_called_faster_than_its_limit(backend, make_module):
    # 1m of CPU: a bucket of 1 ms of CPU, refilled at 1 ms per second; each call burns
    # about 1.6e6 fuel, a fraction of a millisecond of CPU. A call may wait for the share up
    # to its timeout: 10 s covers the debt of a call that a busy machine made slower.
    limits = SandboxLimits(cpu_millicores=1, timeout_ms=10_000)
    package = load(make_module(wat.BURN))
    outcomes = []
    with backend.load(package, limits, Grants()).instance as instance:
        while len(outcomes) < 100 and not any(o.usage.throttled_ms for o in outcomes):
            outcomes.append(instance.invoke(Request()))
    assert all(o.ok for o in outcomes), [o.violation for o in outcomes]
    assert len({o.usage.fuel for o in outcomes}) == 1  # fuel is deterministic
    assert outcomes[0].usage.throttled_ms == 0
    # Throttled only once the CPU charged before it passed the 1 ms bucket, and for no
    # longer than that debt takes to pay off at 1m.
    charged_ms = sum(o.usage.cpu_ms for o in outcomes[:-1])
    assert charged_ms > 1.0
    assert 0 < outcomes[-1].usage.throttled_ms <= (charged_ms - 1.0) * 1000


def test_compiled_module_is_cached_and_fresh_ignores_the_cache(backend, make_module):
    package = load(make_module(wat.OK))
    first = backend.load(package, LIMITS, Grants(), fresh=True)
    second = backend.load(package, LIMITS, Grants())
    for result in (first, second):
        result.instance.close()
    assert (first.cache_hit, second.cache_hit) == (False, True)


def test_corrupt_cache_entry_is_recompiled(make_module, tmp_path):
    package = load(make_module(wat.OK))
    with WasmBackend(tmp_path / "cache") as wasm:
        wasm.load(package, LIMITS, Grants()).instance.close()
    (entry,) = (tmp_path / "cache" / "wasm").glob("*.cwasm")
    entry.write_bytes(b"not an artifact")
    # A backend holds what it verified; the next one (a next process) reads the entry.
    with WasmBackend(tmp_path / "cache") as wasm:
        result = wasm.load(package, LIMITS, Grants())
        assert result.violation is None
        assert not result.cache_hit
        assert result.instance.invoke(Request()).ok
        result.instance.close()


def test_cache_key_changes_with_the_wasm(backend):
    assert backend.cache_key(b"\x00asm1") != backend.cache_key(b"\x00asm2")


def test_a_cache_folder_others_can_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    (shared / "wasm").mkdir(parents=True)
    os.chmod(shared / "wasm", 0o777)  # noqa: S103 - a shared folder is what is refused
    with pytest.raises(SandboxError, match="not private"):
        WasmBackend(shared)


def test_close_is_idempotent_and_stops_the_ticker(tmp_path):
    before = [t.name for t in threading.enumerate()].count("sandbench-epoch")
    wasm = WasmBackend(tmp_path)
    wasm.close()
    wasm.close()
    after = [t for t in threading.enumerate() if t.name == "sandbench-epoch"]
    assert len(after) <= before
    with pytest.raises(SandboxError):
        wasm.load(load_dummy(tmp_path), LIMITS, Grants())


def load_dummy(tmp_path: Path):
    root = tmp_path / "dummy"
    root.mkdir()
    (root / "module.wat").write_text(wat.OK)
    (root / "module.json").write_text(
        '{"name": "d", "version": "1.0.0", "runtime": {"kind": "wasm", "entry": "module.wat"}}'
    )
    return load(root)


def test_invoke_after_close_raises(backend, make_module):
    package = load(make_module(wat.OK))
    instance = backend.load(package, LIMITS, Grants()).instance
    instance.close()
    with pytest.raises(SandboxError):
        instance.invoke(Request())


def test_backend_describes_its_engine(backend):
    assert backend.describe().startswith("wasmtime 50.")


def test_the_epoch_ticker_counts_the_clock_not_its_wakeups():
    # A late wakeup (a busy machine) adds every tick that came due, so a deadline of N ticks
    # is N ticks of wall time; counting wakeups stretched a 30 s timeout to 40-60 s.
    import wasmtime

    from sandbench.sandbox.wasm.native import Ticker
    from sandbench.sandbox.wasm.store import TICK_MS

    ticker = Ticker(wasmtime.Engine())  # a real engine: the ticker calls wasmtime in C
    ticker.stop()  # its own thread no longer ticks: the clock below is the test's
    start = ticker.start + TICK_MS / 2000  # mid-tick: no rounding at a tick's edge
    before = round(2000 / TICK_MS) - ticker.owed(start + 2.0)  # what its thread added
    assert ticker.catch_up(start + 2.0) == round(2000 / TICK_MS) - before
    assert ticker.catch_up(start + 2.0) == 0  # nothing new came due
    assert ticker.owed(start + 2.5) == round(500 / TICK_MS)
    assert ticker.catch_up(start + 2.5) == round(500 / TICK_MS)  # one late wakeup, all of it
    assert ticker.owed(start + 2.5) == 0
