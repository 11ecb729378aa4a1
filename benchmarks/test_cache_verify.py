"""What verifying a compiled-module cache entry costs (issue 13, item 6).

Two groups, each against a baseline measured in the same run:

- `cache-read-18MiB`: reading an 18 MiB entry (the size of a Python component's artifact
  order) as a plain file, against `ArtifactCache.load` (read + HMAC-SHA256 + compare);
- `cache-load-vendas`: the cached load raw wasmtime-py does (`deserialize_file`, no check),
  against `ArtifactCache.verified` + `deserialize_file` as the backend does: the first
  load copies the entry into a private memory file and checks it, later ones map it.
"""

from __future__ import annotations

import os

import wasmtime

from sandbench.manifests import load
from sandbench.sandbox.cache import ArtifactCache

from .conftest import EXAMPLES
from .raw import compile_module

MiB = 1024 * 1024


def test_cache_read_raw(benchmark, tmp_path):
    benchmark.group = "cache-read-18MiB"
    path = tmp_path / "entry.bin"
    path.write_bytes(os.urandom(18 * MiB))
    benchmark(path.read_bytes)


def test_cache_read_verified(benchmark, tmp_path):
    benchmark.group = "cache-read-18MiB"
    cache = ArtifactCache(tmp_path / "cache", ".bin")
    cache.put("k", os.urandom(18 * MiB))

    def verified() -> None:
        assert cache.load("k") is not None

    benchmark(verified)


def _artifact(engine: wasmtime.Engine) -> bytes:
    return bytes(compile_module(engine, load(EXAMPLES / "vendas").entry_path).serialize())


def test_cache_load_raw(benchmark, tmp_path):
    benchmark.group = "cache-load-vendas"
    engine = wasmtime.Engine()
    path = tmp_path / "vendas.cwasm"
    path.write_bytes(_artifact(engine))
    benchmark(lambda: wasmtime.Module.deserialize_file(engine, str(path)))


def test_cache_load_verified(benchmark, tmp_path):
    benchmark.group = "cache-load-vendas"
    engine = wasmtime.Engine()
    cache = ArtifactCache(tmp_path / "cache", ".cwasm")
    cache.put("vendas", _artifact(engine))

    def verified() -> wasmtime.Module:
        with cache.verified("vendas") as found:
            assert found is not None
            if isinstance(found, str):
                return wasmtime.Module.deserialize_file(engine, found)
            return wasmtime.Module.deserialize(engine, found)

    benchmark(verified)
