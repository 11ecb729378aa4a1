"""The WASM backend on wasmtime (the embedded default); see docs/abi.md."""

from __future__ import annotations

from .backend import WasmBackend, wasmtime_version

__all__ = ["WasmBackend", "wasmtime_version"]
