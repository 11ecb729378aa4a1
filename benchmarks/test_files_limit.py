"""What counting `limits.files` costs: a command that opens and closes a bucket file 200
times, through sandbench's counted `path_open`/`fd_close` (sandbox/wasm/files.py) and
through wasmtime's own WASI (the raw baseline, no limits). The summary prints the ratio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import wasmtime

from sandbench.manifests import load
from sandbench.sandbox import Grants, Request, SandboxLimits

WASI = "wasi_snapshot_preview1"
OPENS = 200
# Opens data.txt in the first preopen (fd 3) and closes it, OPENS times; answers 200.
MODULE = f"""(module
  (import "{WASI}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "{WASI}" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "{WASI}" "fd_close" (func $fd_close (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "data.txtStatus: 200\\n\\n")
  (func (export "_start") (local $i i32)
    (loop $next
      (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 8)
            (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 304))
        (then unreachable))
      (drop (call $fd_close (i32.load (i32.const 304))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const {OPENS}))))
    (i32.store (i32.const 0) (i32.const 72))
    (i32.store (i32.const 4) (i32.const 13))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("files-module")
    (root / "module.wat").write_text(MODULE)
    manifest = {
        "name": "@bench/files",
        "version": "1.0.0",
        "runtime": {"kind": "wasm", "entry": "module.wat", "abi": "command"},
        "security": {"permissions": ["storage:read:docs"], "limits": {"files": 4}},
    }
    (root / "module.json").write_text(json.dumps(manifest))
    bucket = root.parent / "docs"
    bucket.mkdir(exist_ok=True)
    (bucket / "data.txt").write_text("content")
    return root


def test_open_close_raw(benchmark, module_dir):
    benchmark.group = "open-close-200"
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    pre = linker.instantiate_pre(wasmtime.Module(engine, MODULE))

    def run() -> bytes:
        store = wasmtime.Store(engine)
        out: list[bytes] = []
        wasi = wasmtime.WasiConfig()
        wasi.preopen_dir(str(module_dir.parent / "docs"), "/storage/docs", fs_mutable=False)
        wasi.stdout_custom = out.append
        store.set_wasi(wasi)
        pre.instantiate(store).exports(store)["_start"](store)
        store.close()
        return b"".join(out)

    assert benchmark(run).startswith(b"Status: 200")


def test_open_close_sandbench(benchmark, backend, module_dir):
    benchmark.group = "open-close-200"
    package = load(module_dir)
    grants = Grants(storage_read={"docs": module_dir.parent / "docs"})
    result = backend.load(package, SandboxLimits(files=4), grants)
    assert result.instance is not None, result.violation
    with result.instance as instance:
        outcome = benchmark(instance.invoke, Request())
    assert outcome.ok, outcome.violation
