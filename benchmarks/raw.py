"""Baselines: wasmtime-py used directly, as its documentation shows, doing the same work."""

from __future__ import annotations

from pathlib import Path

import wasmtime


def compile_module(engine: wasmtime.Engine, entry: Path) -> wasmtime.Module:
    source = entry.read_bytes()
    if entry.suffix == ".wat":
        return wasmtime.Module(engine, wasmtime.wat2wasm(source.decode()))
    return wasmtime.Module(engine, source)


class RawCommand:
    """A CGI request the plain way: new store, WASI env, stdin file and stdout, `_start`."""

    def __init__(self, entry: Path, scratch: Path) -> None:
        self.engine = wasmtime.Engine()
        linker = wasmtime.Linker(self.engine)
        linker.define_wasi()
        self.pre = linker.instantiate_pre(compile_module(self.engine, entry))
        self.stdin = scratch / "stdin"

    def __call__(self, env: list[tuple[str, str]], body: bytes = b"") -> bytes:
        store = wasmtime.Store(self.engine)
        out: list[bytes] = []
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["module"]
        wasi.env = env
        if body:
            self.stdin.write_bytes(body)  # one file, rewritten per request
            wasi.stdin_file = str(self.stdin)
        wasi.stdout_custom = out.append
        store.set_wasi(wasi)
        instance = self.pre.instantiate(store)
        start = instance.exports(store)["_start"]
        try:
            start(store)
        except wasmtime.ExitTrap as exc:
            if exc.code:
                raise
        store.close()
        return b"".join(out)


class RawReactor:
    """One live instance; per call: alloc, write the request, handle, read the response."""

    def __init__(self, entry: Path) -> None:
        engine = wasmtime.Engine()
        self.store = wasmtime.Store(engine)
        instance = wasmtime.Instance(self.store, compile_module(engine, entry), [])
        exports = instance.exports(self.store)
        self.memory = exports["memory"]
        self.alloc = exports["sandbench_alloc"]
        self.handle = exports["sandbench_handle"]

    def __call__(self, request: bytes) -> bytes:
        ptr = self.alloc(self.store, len(request))
        self.memory.write(self.store, request, ptr)
        packed = self.handle(self.store, ptr, len(request))
        out_ptr, out_len = packed >> 32, packed & 0xFFFFFFFF
        return bytes(self.memory.read(self.store, out_ptr, out_ptr + out_len))


# An Extism plugin echoing its input, written against Extism's kernel imports the way its
# PDKs do it: read the input 8 bytes at a time into an Extism block, set it as the output.
EXTISM_ECHO_WAT = """
(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1)
  (func (export "echo") (result i32)
    (local $len i64) (local $out i64) (local $i i64)
    (local.set $len (call $input_length))
    (local.set $out (call $alloc (local.get $len)))
    (block $done
      (loop $copy
        (br_if $done (i64.ge_u (local.get $i) (local.get $len)))
        (call $store_u64 (i64.add (local.get $out) (local.get $i))
                         (call $input_load_u64 (local.get $i)))
        (local.set $i (i64.add (local.get $i) (i64.const 8)))
        (br $copy)))
    (call $output_set (local.get $out) (local.get $len))
    (i32.const 0)))
"""


class RawExtism:
    """Extism's Python SDK (PyPI `extism`), the closest peer: one plugin, `call("echo", data)`."""

    def __init__(self) -> None:
        import extism  # the `test` extra installs it; imported here so raw.py loads without

        wasm = bytes(wasmtime.wat2wasm(EXTISM_ECHO_WAT))
        self.plugin = extism.Plugin({"wasm": [{"data": wasm}]}, wasi=False, functions=[])

    def __call__(self, data: bytes) -> bytes:
        output: bytes = self.plugin.call("echo", data)
        return output
