"""A Python module as a WebAssembly component against the same handler in a container.

The component is examples/modules/pricing-py built once per session with `sandbench build`
(into a temporary copy, from the tests' build cache, with a temporary compile cache); the container is
examples/modules/pricing-container, which serves the same `app.py` (a byte-for-byte copy,
checked below) over HTTP on the sandbench/python:bookworm image. Three groups, each with
three contenders measured in this same run:

- `py-load`: from the compile cache to the first response. Component: `WasmBackend.load`
  with a cache hit (the cache key remembered for the file, deserialize the compiled artifact,
  instantiate; the module's top level ran at build time, in the snapshot) plus `GET /`. Container: `ContainerBackend.load`
  (start the hardened container, wait until it listens) plus `GET /`; both through
  sandbench's backends, not bare `docker run`.
- `py-instantiate`: a new instance. Component: a new instance (store, limits, WASI config,
  instantiation) from the already compiled component, exactly what the backend does after a
  violation. Container: `ContainerBackend.load`, the start until the port answers.
- `py-call`: one `POST /quote` on a live instance through `Instance.invoke`.

Each group's `raw` baseline is wasmtime-py used directly on the same component (default
`Config`, no fuel, no deadline, no limits, a no-op host `log`; its load is
`Component.deserialize_file` of an artifact it serialized itself, with no hashing). The
summary prints every ratio by name: the component and the container over this baseline,
and the container over the component. Instances and containers are closed in the next
round's setup, outside the timed part.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from wasmtime import component as wc

from sandbench.components import build
from sandbench.errors import BackendUnavailable
from sandbench.hostapi.abi import HOST_INTERFACE
from sandbench.manifests import ModulePackage, load
from sandbench.sandbox import Grants, Request, SandboxLimits
from sandbench.sandbox.cache import default_cache_dir
from sandbench.sandbox.container import ContainerBackend, build_python_image
from sandbench.sandbox.wasm import WasmBackend
from sandbench.sandbox.wasm.component import EXPORT, ComponentInstance

from .conftest import EXAMPLES

COMPONENT = EXAMPLES / "pricing-py"
CONTAINER = EXAMPLES / "pricing-container"
CONTAINER_ROUNDS = 5  # a container start takes about half a second
# The tests' build cache (tests/components/builds.py): `make test` builds pricing-py once.
BUILD_CACHE = Path(__file__).resolve().parent.parent / ".sandbench-test-cache"
WASM_ROUNDS = 40  # a component instance takes about a millisecond, a cached load about 20
LIMITS = SandboxLimits(memory_bytes=64 * 1024 * 1024, cpu_millicores=500, timeout_ms=2000)
ORDER = {
    "items": [
        {"sku": "A-1", "qty": 2, "unit_price": "19.90"},
        {"sku": "BR-220", "qty": 3, "unit_price": "5.49"},
        {"sku": "CX-7", "qty": 1, "unit_price": "129.00"},
    ],
    "customer": {"tier": "gold"},
    "coupon": "WELCOME10",
}
QUOTE = Request(
    method="POST",
    path="/quote",
    headers=(("content-type", "application/json"),),
    body=json.dumps(ORDER).encode(),
)
HEALTH = Request()


# -- fixtures: one build, one compile per engine, one container engine ---------------------


@pytest.fixture(scope="session")
def component(tmp_path_factory: pytest.TempPathFactory) -> ModulePackage:
    """pricing-py built into a temporary copy (the build cache in a temporary folder too)."""
    assert (CONTAINER / "app.py").read_bytes() == (COMPONENT / "app.py").read_bytes(), (
        "pricing-container/app.py is not pricing-py/app.py: the two sides would not run the "
        "same handler"
    )
    root = tmp_path_factory.mktemp("pricing-py") / "module"
    shutil.copytree(COMPONENT, root, ignore=shutil.ignore_patterns("module.wasm", "__pycache__"))
    build(root, cache_dir=BUILD_CACHE)
    return load(root)


@pytest.fixture(scope="session")
def warm_backend(backend: WasmBackend, component: ModulePackage) -> WasmBackend:
    """The session's WASM backend with the component compiled into its artifact cache."""
    result = backend.load(component, LIMITS, Grants())
    assert result.instance is not None, result.violation
    result.instance.close()
    return backend


@pytest.fixture(scope="session")
def engine() -> Iterator[ContainerBackend]:
    try:
        backend = ContainerBackend()
    except BackendUnavailable as exc:
        if os.environ.get("CI"):  # CI starts dockerd: there, no engine is a failure
            pytest.fail(f"no Docker Engine in CI: {exc}")
        pytest.skip(f"no Docker Engine: {exc}")
    build_python_image(backend.client, default_cache_dir() / "images")
    with backend:
        yield backend


class RawComponent:
    """wasmtime-py as its documentation shows it: default engine, WASI 0.2, the world's
    host imports (a no-op `log`, everything else refused), no limits of any kind."""

    def __init__(self, entry: Path, scratch: Path) -> None:
        self.engine = wasmtime.Engine()
        self.component = wc.Component(self.engine, entry.read_bytes())
        self.artifact = scratch / "pricing.cwasm"
        self.artifact.write_bytes(self.component.serialize())
        self.linker = wc.Linker(self.engine)
        self.linker.add_wasip2()
        with self.linker.root() as root, root.add_instance(HOST_INTERFACE) as host:
            host.add_func("log", lambda _store, _level, _message: None)
            for name in ("http-fetch", "storage-read", "storage-write", "storage-list"):
                host.add_func(name, lambda _store, *_args: wc.Variant("err", "denied"))
            for name in ("db-query", "db-execute"):
                host.add_func(name, lambda _store, *_args: wc.Variant("err", "denied"))

    def instantiate(self, component: wc.Component | None = None) -> tuple[wasmtime.Store, Any]:
        store = wasmtime.Store(self.engine)
        store.set_wasi(wasmtime.WasiConfig())
        instance = self.linker.instantiate(store, component or self.component)
        return store, instance.get_func(store, EXPORT)

    def load(self) -> tuple[wasmtime.Store, Any]:
        return self.instantiate(wc.Component.deserialize_file(self.engine, str(self.artifact)))

    @staticmethod
    def call(store: wasmtime.Store, handle: Any, request: Request) -> Any:
        record = wc.Record()
        record.__dict__.update(
            method=request.method,
            path=request.path,
            query=request.query,
            headers=list(request.headers),
            body=request.body.decode("latin-1"),
        )
        return handle(store, record)


@pytest.fixture(scope="session")
def raw(component: ModulePackage, tmp_path_factory: pytest.TempPathFactory) -> RawComponent:
    return RawComponent(component.entry_path, tmp_path_factory.mktemp("raw"))


# -- the container-over-component section of the summary -----------------------------------


class _ContainerOverComponent:
    """Prints, per `py-` group, every ratio by name: the component and the container over
    raw wasmtime-py, and the container over the component (the summary in conftest.py
    prints the first two without saying which contender is which)."""

    @staticmethod
    def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
        session = getattr(config, "_benchmarksession", None)
        if session is None or session.disabled or not session.benchmarks:
            return
        medians = {b.name: b.stats.median for b in session.benchmarks}
        lines = []
        for group in ("load", "instantiate", "call"):
            raw, ours, theirs = (
                medians.get(f"test_py_{group}_{who}") for who in ("raw", "component", "container")
            )
            if raw and ours and theirs:
                lines.append(
                    f"py-{group:<12} component / raw {ours / raw:6.2f}x   container / raw "
                    f"{theirs / raw:8.2f}x   container / component {theirs / ours:7.1f}x   "
                    f"(medians {raw * 1e6:.1f} / {ours * 1e6:.1f} / {theirs * 1e6:.1f} us)"
                )
        if lines:
            terminalreporter.section("Python component vs the same handler in a container")
            for line in lines:
                terminalreporter.write_line(line)


@pytest.fixture(scope="session", autouse=True)
def _container_over_component(request: pytest.FixtureRequest) -> None:
    manager = request.config.pluginmanager
    if not manager.has_plugin("sandbench-container-over-component"):
        manager.register(_ContainerOverComponent(), "sandbench-container-over-component")


def _rounds(
    benchmark: Any, start: Callable[[], Any], stop: Callable[[Any], None], rounds: int
) -> Any:
    """`start` timed `rounds` times; what it returned is stopped in the next round's setup."""
    live: list[Any] = []

    def setup() -> None:
        while live:
            stop(live.pop())

    def run() -> Any:
        live.append(start())
        return live[-1]

    try:
        return benchmark.pedantic(run, setup=setup, rounds=rounds, iterations=1)
    finally:
        while live:
            stop(live.pop())


def _ok(outcome: Any) -> bytes:
    assert outcome.ok, outcome.violation
    assert outcome.response.status == 200
    body: bytes = outcome.response.body
    return body


# -- py-load: from the compile cache (or the image) to the first response ------------------


def test_py_load_raw(benchmark, raw):
    benchmark.group = "py-load"

    def first_response() -> Any:
        store, handle = raw.load()
        answer = raw.call(store, handle, HEALTH)
        store.close()
        return answer

    answer = benchmark(first_response)
    assert answer.tag == "ok"
    assert answer.payload.status == 200


def test_py_load_component(benchmark, warm_backend, component):
    benchmark.group = "py-load"

    def first_response() -> Any:
        result = warm_backend.load(component, LIMITS, Grants())
        assert result.cache_hit
        assert result.instance is not None, result.violation
        _ok(result.instance.invoke(HEALTH))
        return result.instance

    instance = _rounds(benchmark, first_response, lambda i: i.close(), WASM_ROUNDS)
    assert instance is not None


def test_py_load_container(benchmark, engine):
    benchmark.group = "py-load"
    package = load(CONTAINER)

    def first_response() -> Any:
        result = engine.load(package, LIMITS, Grants())
        assert result.instance is not None, result.violation
        _ok(result.instance.invoke(HEALTH))
        return result.instance

    instance = _rounds(benchmark, first_response, lambda i: i.close(), CONTAINER_ROUNDS)
    assert instance is not None


# -- py-instantiate: a new instance of what is already loaded ------------------------------


def test_py_instantiate_raw(benchmark, raw):
    benchmark.group = "py-instantiate"
    _store, handle = _rounds(benchmark, raw.instantiate, lambda pair: pair[0].close(), WASM_ROUNDS)
    assert handle is not None


def test_py_instantiate_component(benchmark, warm_backend, component):
    benchmark.group = "py-instantiate"
    result = warm_backend.load(component, LIMITS, Grants())
    assert result.instance is not None, result.violation
    # The backend keeps the compiled component in the instance's spec; a second instance
    # from it is what the backend itself does after a violation.
    spec = result.instance._cspec
    result.instance.close()

    def instantiate() -> ComponentInstance:
        instance = ComponentInstance(spec)
        assert instance.warm_up() is None
        return instance

    instance = _rounds(benchmark, instantiate, lambda i: i.close(), WASM_ROUNDS)
    assert instance is not None


def test_py_instantiate_container(benchmark, engine):
    benchmark.group = "py-instantiate"
    package = load(CONTAINER)

    def start() -> Any:
        result = engine.load(package, LIMITS, Grants())
        assert result.instance is not None, result.violation
        return result.instance

    instance = _rounds(benchmark, start, lambda i: i.close(), CONTAINER_ROUNDS)
    assert instance is not None


# -- py-call: one POST /quote on a live instance -------------------------------------------


@pytest.fixture(scope="session")
def quoted(warm_backend: WasmBackend, component: ModulePackage) -> bytes:
    """The component's answer to QUOTE: every contender must answer it byte for byte."""
    result = warm_backend.load(component, LIMITS, Grants())
    assert result.instance is not None, result.violation
    with result.instance as instance:
        body = _ok(instance.invoke(QUOTE))
    assert json.loads(body)["total"] == "189.66"
    return body


def test_py_call_raw(benchmark, raw, quoted):
    benchmark.group = "py-call"
    store, handle = raw.instantiate()
    answer = benchmark(raw.call, store, handle, QUOTE)
    store.close()
    assert answer.tag == "ok"
    assert answer.payload.body.encode("latin-1") == quoted


def test_py_call_component(benchmark, warm_backend, component, quoted):
    benchmark.group = "py-call"
    result = warm_backend.load(component, LIMITS, Grants())
    assert result.instance is not None, result.violation
    with result.instance as instance:
        outcome = benchmark(instance.invoke, QUOTE)
    assert _ok(outcome) == quoted
    assert [line.message for line in outcome.host.logs] == ["quoted 3 line(s), total 189.66"]


def test_py_call_container(benchmark, engine, quoted):
    benchmark.group = "py-call"
    result = engine.load(load(CONTAINER), LIMITS, Grants())
    assert result.instance is not None, result.violation
    with result.instance as instance:
        outcome = benchmark(instance.invoke, QUOTE)
    assert _ok(outcome) == quoted
    assert [line.message for line in outcome.host.logs] == ["quoted 3 line(s), total 189.66"]
