"""`limits.files` in the WASM backend: `path_open` past the limit is a `files` violation,
`fd_close` gives the slot back, `fd_renumber` keeps it (real wasmtime, real files)."""

from __future__ import annotations

import pytest

from sandbench.manifests import load
from sandbench.sandbox import Grants, Request, SandboxLimits, ViolationKind

from . import wat

MiB = 1024 * 1024
_IMPORTS = (
    f'(import "{wat.WASI}" "path_open" (func $path_open '
    "(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"
    f'(import "{wat.WASI}" "fd_close" (func $fd_close (param i32) (result i32)))'
    f'(import "{wat.WASI}" "fd_renumber" (func $fd_renumber (param i32 i32) (result i32)))'
)
_OPEN = (
    "(call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 8) (i32.const 0) "
    "(i64.const 2) (i64.const 0) (i32.const 0) (i32.const 304))"
)


def opens(count: int, *, close: bool = False, renumber: bool = False) -> str:
    """Opens data.txt from the first bucket (fd 3) `count` times, keeping each open unless
    `close`, or moving each to fd 100 + i when `renumber`. Exits with the errno of the first
    open that fails; else answers 200."""
    after = ""
    if close:
        after = "(drop (call $fd_close (i32.load (i32.const 304))))"
    if renumber:
        after = (
            "(drop (call $fd_renumber (i32.load (i32.const 304)) "
            "(i32.add (i32.const 100) (local.get $i))))"
        )
    return wat.command(
        f"""
    (local $i i32) (local $err i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (i32.const {count})))
      (local.set $err {_OPEN})
      (if (local.get $err) (then (call $proc_exit (local.get $err))))
      {after}
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (drop (call $write (i32.const 1) (i32.const 72) (i32.const 13)))""",
        data=b"data.txtStatus: 200\n\n",
        imports=_IMPORTS,
    )


@pytest.fixture
def grants(tmp_path):
    bucket = tmp_path / "docs"
    bucket.mkdir()
    (bucket / "data.txt").write_bytes(b"content")
    return Grants(storage_read={"docs": bucket})


def _invoke(backend, make_module, source, grants, files):
    package = load(make_module(source))
    limits = SandboxLimits(memory_bytes=16 * MiB, files=files)
    result = backend.load(package, limits, grants)
    assert result.instance is not None, result.violation
    with result.instance as instance:
        return instance.invoke(Request())


def test_opening_more_files_than_allowed_is_a_files_violation(backend, make_module, grants):
    outcome = _invoke(backend, make_module, opens(5), grants, files=4)
    assert outcome.violation is not None
    assert outcome.violation.kind is ViolationKind.FILES
    assert "limits.files (4)" in outcome.violation.message
    assert outcome.response is None


def test_up_to_the_limit_the_module_answers(backend, make_module, grants):
    outcome = _invoke(backend, make_module, opens(4), grants, files=4)
    assert outcome.ok, outcome.violation
    assert outcome.response.status == 200


def test_closing_a_file_gives_its_slot_back(backend, make_module, grants):
    outcome = _invoke(backend, make_module, opens(20, close=True), grants, files=2)
    assert outcome.ok, outcome.violation


def test_a_renumbered_file_still_holds_its_slot(backend, make_module, grants):
    outcome = _invoke(backend, make_module, opens(3, renumber=True), grants, files=2)
    assert outcome.violation is not None
    assert outcome.violation.kind is ViolationKind.FILES


def test_the_module_sees_emfile(backend, make_module, grants):
    """The refused open answers WASI's EMFILE (33): the module exits with it here."""
    package = load(make_module(opens(2)))
    limits = SandboxLimits(memory_bytes=16 * MiB, files=1)
    with backend.load(package, limits, grants).instance as instance:
        outcome = instance.invoke(Request())
    assert outcome.violation.kind is ViolationKind.FILES
    assert "1 file open(s) refused with EMFILE" in outcome.violation.message
