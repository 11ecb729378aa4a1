"""A store's WASI configuration (argv, environment, stdin), built with little Python work.

wasmtime-py's `WasiConfig.argv` / `.env` setters encode every string and build two ctypes
arrays per call (about 10 µs for a CGI environment); WASI then copies the strings, so the
arrays of a given environment are built once and kept (`_environment`, `_arrays`, bounded).
The request body becomes stdin from memory (`wasi_config_set_stdin_bytes`): no file is
written or opened.

A string holding a NUL byte is cut there, as by wasmtime-py's setters.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

import wasmtime
from wasmtime import _bindings as ffi

__all__ = ["wasi_config"]

_CharPP = ctypes.POINTER(ctypes.POINTER(ctypes.c_char))


def wasi_config(name: str, env: list[tuple[str, str]], stdin: bytes = b"") -> wasmtime.WasiConfig:
    """A `WasiConfig` with `argv` = [`name`], environment `env` and `stdin` on descriptor 0
    (nothing to read when empty). Raises `wasmtime.WasmtimeError` if wasmtime refuses one."""
    wasi = wasmtime.WasiConfig()
    pointer = wasi.ptr()
    argv = _arrays((name,))
    if not ffi.wasi_config_set_argv(pointer, 1, argv[0]):
        raise wasmtime.WasmtimeError("failed to configure argv")
    names, values = _environment(tuple(env))
    if not ffi.wasi_config_set_env(pointer, len(env), names[0], values[0]):
        raise wasmtime.WasmtimeError("failed to configure environment")
    if stdin:
        vector = ffi.wasm_byte_vec_t()
        ffi.wasm_byte_vec_new(ctypes.byref(vector), len(stdin), _bytes(stdin))
        ffi.wasi_config_set_stdin_bytes(pointer, ctypes.byref(vector))  # takes the copy
    return wasi


@functools.lru_cache(maxsize=512)
def _environment(env: tuple[tuple[str, str], ...]) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """The names' and the values' arrays of `env` (one look-up per request, where two
    tuples built and looked up per request cost twice as much)."""
    return _arrays(tuple(n for n, _ in env)), _arrays(tuple(v for _, v in env))


@functools.lru_cache(maxsize=512)
def _arrays(strings: tuple[str, ...]) -> tuple[Any, Any]:
    """`strings` as a C `char **` (and the array that keeps the bytes alive)."""
    array = (ctypes.c_char_p * len(strings))(*(s.encode("utf-8") for s in strings))
    return ctypes.cast(array, _CharPP), array


def _bytes(data: bytes) -> Any:
    return ctypes.cast(ctypes.c_char_p(data), ctypes.POINTER(ctypes.c_ubyte))
