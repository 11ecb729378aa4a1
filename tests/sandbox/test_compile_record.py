"""The cold compile is measured once per artifact and kept beside it in the cache."""

from __future__ import annotations

from sandbench.bench import measure_load
from sandbench.manifests import load
from sandbench.sandbox import Grants, SandboxLimits
from sandbench.sandbox.compile_record import read_record, record_path
from sandbench.sandbox.wasm import WasmBackend
from tests.conftest import EXAMPLES


def _records(cache):
    return sorted((cache / "wasm").glob("*.compile.json"))


def test_a_compile_is_recorded_and_a_cache_hit_reports_it(tmp_path):
    package = load(EXAMPLES / "hello")
    with WasmBackend(tmp_path) as backend:
        first = backend.load(package, SandboxLimits(), Grants())
        first.instance.close()
        second = backend.load(package, SandboxLimits(), Grants())
        second.instance.close()
    assert not first.cache_hit
    assert second.cache_hit
    assert first.compiled is not None
    assert first.compiled.compile_ms == first.compile_ms
    assert second.compiled == first.compiled, "the hit reports the compile, not its own load"
    [record] = _records(tmp_path)
    assert record.name.endswith(".cwasm.compile.json")


def test_measure_load_uses_the_record_and_cold_measures_again(tmp_path):
    package = load(EXAMPLES / "hello")
    with WasmBackend(tmp_path) as backend:
        args = (backend, package, SandboxLimits(), Grants())
        loaded, compiled = measure_load(*args, warm_runs=1)
        loaded.instance.close()
        loaded, reused = measure_load(*args, warm_runs=1)
        loaded.instance.close()
        loaded, fresh = measure_load(*args, warm_runs=1, cold=True)
        loaded.instance.close()
    assert compiled.cold_measured_at is None, "the first run compiled"
    assert reused.compile_ms == compiled.compile_ms
    assert reused.cold_measured_at is not None
    assert reused.cold_ms >= reused.compile_ms
    assert fresh.cold_measured_at is None, "--cold compiles again"


def test_a_broken_or_foreign_record_reads_as_none_and_is_measured_again(tmp_path):
    package = load(EXAMPLES / "hello")
    with WasmBackend(tmp_path) as backend:
        backend.load(package, SandboxLimits(), Grants()).instance.close()
        [record] = _records(tmp_path)
        artifact = record.with_name(record.name.removesuffix(".compile.json"))
        assert record_path(artifact) == record
        assert read_record(artifact, "another engine 1.0") is None
        record.write_text("{not json", encoding="utf-8")
        assert read_record(artifact, backend.describe()) is None
        loaded, times = measure_load(backend, package, SandboxLimits(), Grants(), warm_runs=1)
        loaded.instance.close()
    assert times.cold_measured_at is None, "no usable record: a fresh compile measured it"
    assert read_record(artifact, backend.describe()) is not None, "and it was recorded again"
