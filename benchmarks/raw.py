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
