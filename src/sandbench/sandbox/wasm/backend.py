"""The WASM backend: wasmtime, embedded in this process. See docs/abi.md.

Two engines per backend, both with fuel metering and epoch interruption on (engines.py):
command modules, instantiated per request, run on one with wasmtime's pooling allocator
(made at the first command load), everything else on the default one. A ticker thread (in
C, `native.Ticker`: it never takes the GIL) advances their epoch every 10 ms, so every call
(instantiation, `start`, `_initialize` and `_start` included) has a wall-clock deadline. CPU is the invoking thread's CPU time,
measured around each call and charged to one `ModuleCpu` per module, shared by all the
instances loaded from it while any is open; fuel, calibrated from the module's own fuel per
CPU-second, stops a call at its CPU budget.
Modules and components are compiled in a child process under a memory and time bound
(compiler.py, `CompileBounds`) and loaded from its serialized artifact. Compiled modules
and components are cached on disk, keyed by the wasm's SHA-256, the
wasmtime version and the engine settings, and verified (an HMAC, `sandbox.cache`) on every
load before they are deserialized (either engine reads the same artifacts). Components
(`abi: component`) share the default engine, the ticker and the cache; their instances
live in `component.py`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import re
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import wasmtime
from wasmtime import component as wc

from sandbench.errors import SandboxError
from sandbench.hostapi.abi import HOST_INTERFACE, component_import_provided
from sandbench.interrupts import on_interrupt
from sandbench.manifests import ModulePackage
from sandbench.sandbox.budget import CpuShare, FuelRate, ModuleCpu
from sandbench.sandbox.cache import ArtifactCache, default_cache_dir
from sandbench.sandbox.compile_record import CompileRecord, read_record, write_record
from sandbench.sandbox.host import host_api
from sandbench.sandbox.interface import (
    Closing,
    CompileBounds,
    Grants,
    LoadResult,
    SandboxLimits,
    Violation,
    ViolationKind,
)
from sandbench.sandbox.scratch import sweep_scratch

from .command import CommandInstance
from .compiler import COMPILE_IN_PROCESS, Compiler, CompileStopped
from .component import (
    EXPORT,
    ComponentInstance,
    ComponentSpec,
    define_component_host,
)
from .diagnostics import wat_message
from .engines import CommandEngine, command_engine, core_linker, engine
from .guards import COMPONENT_GUARDS, guards_for
from .host import NAMESPACE
from .instances import WASI, Persistent
from .native import Ticker, require
from .reactor import REACTOR_EXPORTS, ReactorInstance
from .store import Spec
from .traps import first_line

__all__ = ["WasmBackend", "wasmtime_version"]

_ENGINE_SETTINGS = "consume_fuel=1;epoch_interruption=1;poll_oneoff=sandbench-sleep;v2"
# A `.wat` up to this size is converted in this process (at most some 80 MB: docs/abi.md,
# "Compiling"); a larger one in the bounded compile child.
WAT_IN_PROCESS = 4 << 20


_STOPPED = "compiling it was stopped (the gate's deadline passed, or an interrupt)"

_Artifact = TypeVar("_Artifact", wasmtime.Module, wc.Component)


def wasmtime_version() -> str:
    """The installed wasmtime-py version."""
    return importlib.metadata.version("wasmtime")


@dataclass(frozen=True)
class _Shape:
    """What a compiled module imports (`module::name`, and the namespaces) and exports."""

    imports: tuple[str, ...]
    namespaces: tuple[str, ...]
    exports: frozenset[str]


class WasmBackend(Closing):
    """`SandboxBackend` on wasmtime. See `SandboxBackend` for the contract."""

    name = "wasm"

    def __init__(
        self,
        cache_dir: Path | None = None,
        *,
        use_cache: bool = True,
        compile_bounds: CompileBounds | None = None,
    ) -> None:
        require()  # the compiled reactor call (native.py): one line, before anything starts
        self._engine = engine()
        self._core = (self._engine, core_linker(self._engine))
        # Command modules instantiate per request: theirs pools instances (engines.py).
        self._command: CommandEngine | None = None
        self._version = wasmtime_version()
        self._cache = (
            ArtifactCache((cache_dir or default_cache_dir()) / "wasm", ".cwasm")
            if use_cache
            else None
        )
        sweep_scratch()  # what killed sandbench processes left behind
        self._ticker = Ticker(self._engine)
        self._compiler = Compiler(compile_bounds or CompileBounds())
        # SIGINT/SIGTERM: end running calls and compiles at once so that the process can
        # clean up.
        self._unwatch = on_interrupt(self.expire_calls)
        self._shapes: dict[str, _Shape] = {}
        self._component_linker: wc.Linker | None = None
        self._keys: dict[tuple[str, int, int, int, int, str], str] = {}
        self._cpu: weakref.WeakValueDictionary[tuple[str, str, int, int], ModuleCpu] = (
            weakref.WeakValueDictionary()
        )
        self._rates: weakref.WeakValueDictionary[tuple[str, str], FuelRate] = (
            weakref.WeakValueDictionary()
        )
        self._shares: weakref.WeakValueDictionary[tuple[str, str, int], CpuShare] = (
            weakref.WeakValueDictionary()
        )
        self._cpu_lock = threading.Lock()
        self._closed = False

    def describe(self) -> str:
        """See `SandboxBackend.describe`."""
        return f"wasmtime {self._version}"

    def expire_calls(self) -> None:
        """End every call running now (a trap, reported as a timeout) and kill every compile
        running now (its load fails with a timeout violation); later calls and compiles get
        their own bounds as usual. Used by the gate's deadline and on SIGINT/SIGTERM."""
        self._ticker.expire_all()
        self._compiler.stop_all()

    @property
    def cache_rejected(self) -> int:
        """Cache entries that failed verification (and were recompiled) since this opened."""
        return self._cache.rejected if self._cache is not None else 0

    def close(self) -> None:
        """See `SandboxBackend.close`."""
        if self._closed:
            return
        self._closed = True
        self._unwatch()
        self._ticker.stop()
        if self._cache is not None:
            self._cache.close()

    def cache_key(self, wasm: bytes, kind: str = "module") -> str:
        """The artifact cache key of `wasm` (a core module or a component) under this engine."""
        text = f"{hashlib.sha256(wasm).hexdigest()}|{self._version}|{_ENGINE_SETTINGS}"
        text += "" if kind == "module" else f"|{kind}"
        return hashlib.sha256(f"{text}|{platform.machine()}".encode()).hexdigest()

    def load(
        self,
        package: ModulePackage,
        limits: SandboxLimits,
        grants: Grants,
        *,
        fresh: bool = False,
    ) -> LoadResult:
        """See `SandboxBackend.load`."""
        if self._closed:
            raise SandboxError("the WASM backend is closed")
        runtime = package.manifest.runtime
        if runtime.kind != "wasm":
            raise SandboxError(f"{package.root}: runtime.kind is {runtime.kind}, not wasm")
        started = time.perf_counter()
        if runtime.abi == "component":
            return self._load_component(package, limits, grants, fresh, started)
        pooled = self._command_engine() if runtime.abi == "command" else None
        on, linker = (pooled.engine, pooled.linker) if pooled is not None else self._core
        try:
            key, module, compile_ms, hit = self._module(package.entry_path, fresh, on)
        except CompileStopped:
            return _load_failure(ViolationKind.TIMEOUT, _STOPPED, started)
        except (wasmtime.WasmtimeError, UnicodeDecodeError) as exc:
            message = _not_a_module(exc, package.entry_path)
            return _load_failure(ViolationKind.INVALID_MODULE, message, started)
        shape = self._shape(key, module)
        dependencies = {ns: ns in (WASI, NAMESPACE) for ns in shape.namespaces}
        problem = _abi_problem(shape.exports, runtime.abi)
        if problem:
            return _load_failure(ViolationKind.INVALID_MODULE, problem, started, dependencies)
        try:
            pre = linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:
            message = _import_message(exc)
            if match := re.search(r"`([^`]+)::", message):
                dependencies[match.group(1)] = False
            return _load_failure(ViolationKind.UNKNOWN_IMPORT, message, started, dependencies)
        spec = Spec(
            engine=on,
            pre=pre,
            name=package.manifest.name,
            limits=limits,
            grants=grants,
            cpu=self._module_cpu(package, limits),
            epoch_lag=self._ticker.owed,
            epoch_ticker=self._ticker.handle,
            # Only a module that imports the host namespace can call it: skip the per-call
            # binding and recording (about 14 us a call) for all the others.
            host=host_api(package, limits, grants) if NAMESPACE in shape.namespaces else None,
            writes_files=f"{WASI}::path_open" in shape.imports,
            guards=guards_for(shape.imports),
            call_state=not {f"{WASI}::poll_oneoff", f"{WASI}::fd_write"}.isdisjoint(shape.imports),
        )
        instance = (
            CommandInstance(spec, pooled.slots) if pooled is not None else ReactorInstance(spec)
        )
        loaded = _loaded(instance, started, compile_ms, hit, dependencies, shape.imports)
        return self._with_record(loaded, key)

    def _load_component(
        self,
        package: ModulePackage,
        limits: SandboxLimits,
        grants: Grants,
        fresh: bool,
        started: float,
    ) -> LoadResult:
        """`load` for `abi: component` (docs/abi.md, "Components")."""
        try:
            key, component, compile_ms, hit = self._component(package.entry_path, fresh)
        except CompileStopped:
            return _load_failure(ViolationKind.TIMEOUT, _STOPPED, started)
        except wasmtime.WasmtimeError as exc:
            message = (
                f"not a valid component ({first_line(exc)}); rebuild it with `sandbench build`"
            )
            if _layer(package.entry_path) == 0:
                message = "it is a core WebAssembly module, not a component: set runtime.abi "
                message += "to command or reactor, or build it with `sandbench build`"
            return _load_failure(ViolationKind.INVALID_MODULE, message, started)
        shape = self._component_shape(key, component)
        dependencies = {name: component_import_provided(name) for name in shape.namespaces}
        missing = [name for name, ok in dependencies.items() if not ok]
        if missing:
            message = (
                f"imports {', '.join(missing)}; a component may import only WASI 0.2 and "
                f"{HOST_INTERFACE} (docs/abi.md, Components)"
            )
            return _load_failure(ViolationKind.UNKNOWN_IMPORT, message, started, dependencies)
        if EXPORT not in shape.exports:
            message = (
                f"the component exports no `{EXPORT}`; the component ABI is the world "
                "sandbench:platform/module (docs/abi.md, Components)"
            )
            return _load_failure(ViolationKind.INVALID_MODULE, message, started, dependencies)
        if self._component_linker is None:
            self._component_linker = wc.Linker(self._engine)
            define_component_host(self._component_linker)
        spec = ComponentSpec(
            engine=self._engine,
            linker=self._component_linker,
            component=component,
            name=package.manifest.name,
            limits=limits,
            grants=grants,
            cpu=self._module_cpu(package, limits),
            epoch_lag=self._ticker.owed,
            host=host_api(package, limits, grants),
            writes_files=bool(grants.storage_write),
            guards=COMPONENT_GUARDS if HOST_INTERFACE in shape.namespaces else (),
        )
        instance = ComponentInstance(spec)
        loaded = _loaded(instance, started, compile_ms, hit, dependencies, shape.imports)
        return self._with_record(loaded, key)

    def _command_engine(self) -> CommandEngine:
        """The pooling engine of command modules, made at first use."""
        with self._cpu_lock:
            if self._command is None:
                self._command = command_engine()
                self._ticker.add(self._command.engine)
            return self._command

    def _with_record(self, loaded: LoadResult, key: str) -> LoadResult:
        """`loaded` with the artifact's compile record (compile_record.py): the one kept
        with a cache hit, or a new one for a compile."""
        if self._cache is None or loaded.instance is None:
            return loaded
        artifact = self._cache.path(key)
        record: CompileRecord | None
        if loaded.cache_hit:
            record = read_record(artifact, self.describe())
        else:
            record = write_record(artifact, loaded.compile_ms, self.describe())
        return loaded.model_copy(update={"compiled": record})

    def _module_cpu(self, package: ModulePackage, limits: SandboxLimits) -> ModuleCpu:
        """The CPU accounting of `package` under `limits`: one per module, shared by every
        instance loaded from it (gateway pools, repeated loads) while any of them is open.

        A module is its folder and digest; another timeout makes another per-call budget
        with the same CPU share, another cpu limit another share; all share the learnt fuel
        rate. With `budget.share_budgets` on, the share is also the one of the other
        processes serving the module (`sandbench serve --workers`).
        """
        module = (str(package.root), package.digest)
        share_key = (*module, limits.cpu_millicores)
        key = (*share_key, limits.timeout_ms)
        with self._cpu_lock:
            cpu = self._cpu.get(key)
            if cpu is None:
                rate = self._rates.get(module)
                if rate is None:
                    rate = self._rates[module] = FuelRate()
                share = self._shares.get(share_key)
                cpu = ModuleCpu(limits.cpu_millicores, limits.timeout_ms, rate, share_key, share)
                self._shares[share_key] = cpu.share
                self._cpu[key] = cpu
            return cpu

    def _component_shape(self, key: str, component: wc.Component) -> _Shape:
        """A component's imports (whole interfaces) and exports, memoized like `_shape`."""
        if key not in self._shapes:
            kind = component.type
            imports = tuple(kind.imports(self._engine))
            self._shapes[key] = _Shape(
                imports=imports,
                namespaces=imports,
                exports=frozenset(kind.exports(self._engine)),
            )
        return self._shapes[key]

    def _component(self, entry: Path, fresh: bool) -> tuple[str, wc.Component, float, bool]:
        """Compile the component at `entry` or take it from the cache, like `_module`."""
        started = time.perf_counter()
        key, wasm = self._entry_key(entry, "component", fresh)
        component, hit = self._compiled(key, fresh, (wc.Component, self._engine), entry, wasm)
        return key, component, (time.perf_counter() - started) * 1000, hit

    def _entry_key(self, entry: Path, kind: str, fresh: bool) -> tuple[str, bytes | None]:
        """The cache key of the wasm in `entry` (a .wat converted first), and its bytes when
        they had to be read.

        Hashing a component (18 MB: about 16 ms) was most of a cached load, so the key is
        remembered per file identity (path, device, inode, size, modification time) and the
        bytes are read only to compute it or to compile.
        """
        try:
            info = entry.stat()
        except OSError as exc:
            raise SandboxError(f"{entry}: cannot be read: {exc.strerror}") from None
        identity = (str(entry), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, kind)
        key = None if fresh else self._keys.get(identity)
        if key is not None:
            return key, None
        wasm = self._wasm(entry)
        key = self._keys[identity] = self.cache_key(wasm, kind=kind)
        return key, wasm

    def _compiled(
        self,
        key: str,
        fresh: bool,
        target: tuple[type[_Artifact], wasmtime.Engine],
        entry: Path,
        wasm: bytes | None,
    ) -> tuple[_Artifact, bool]:
        """A module or component (`target`: the kind, and the engine it is for) from the
        cache, or compiled (`wasm`, else read from `entry`) and stored: (artifact, cache hit).

        A core module of up to `COMPILE_IN_PROCESS` bytes compiles here (its cost is
        bounded by its size: compiler.py); anything larger in a bounded child, whose
        artifact is deserialized. Raises what `Compiler.compile` raises; nothing is stored
        then."""
        kind, on = target
        # The cache checks the entry's MAC and hands over the bytes it checked, or a path to
        # the private copy it checked: only verified bytes reach native code, however the
        # cache file changes meanwhile.
        if self._cache is not None and not fresh:
            with self._cache.verified(key) as verified:
                if verified is not None:
                    try:
                        return _from(kind, on, verified), True
                    except wasmtime.WasmtimeError:
                        self._cache.discard(key)  # another engine's artifact: compile afresh
        code = wasm if wasm is not None else self._wasm(entry)
        if kind is wasmtime.Module and len(code) <= COMPILE_IN_PROCESS:
            artifact = kind(on, code)
            compiled = artifact.serialize() if self._cache is not None else b""
        else:
            name = "module" if kind is wasmtime.Module else "component"
            compiled = self._compiler.compile(code, name, entry)
            artifact = _from(kind, on, compiled)
        if self._cache is not None:
            self._cache.put(key, compiled)
        return artifact, False

    def _wasm(self, entry: Path) -> bytes:
        """The binary in `entry`; a `.wat` text is converted: here up to `WAT_IN_PROCESS`
        bytes of text (its memory is linear in the text, about 19 bytes a byte), in a
        bounded child (compiler.py) above."""
        try:
            source = entry.read_bytes()
        except OSError as exc:
            raise SandboxError(f"{entry}: cannot be read: {exc.strerror}") from None
        if entry.suffix != ".wat":
            return source
        if len(source) > WAT_IN_PROCESS:
            return self._compiler.compile(source, "wat", entry)
        return bytes(wasmtime.wat2wasm(source.decode("utf-8")))

    def _shape(self, key: str, module: wasmtime.Module) -> _Shape:
        """The module's imports and exports, memoized per compiled artifact."""
        if key not in self._shapes:
            imports = tuple(f"{imp.module}::{imp.name}" for imp in module.imports)
            self._shapes[key] = _Shape(
                imports=imports,
                namespaces=tuple(dict.fromkeys(imp.module for imp in module.imports)),
                exports=frozenset(e.name for e in module.exports),
            )
        return self._shapes[key]

    def _module(
        self, entry: Path, fresh: bool, on: wasmtime.Engine
    ) -> tuple[str, wasmtime.Module, float, bool]:
        """Compile `entry` for engine `on` or take it from the cache (both engines read the
        same artifacts, engines.py): (key, module, compile ms, cache hit)."""
        started = time.perf_counter()
        key, wasm = self._entry_key(entry, "module", fresh)
        module, hit = self._compiled(key, fresh, (wasmtime.Module, on), entry, wasm)
        return key, module, (time.perf_counter() - started) * 1000, hit


def _from(
    kind: type[_Artifact], engine: wasmtime.Engine, found: str | bytes | bytearray
) -> _Artifact:
    """Deserialize a verified artifact: mapped from a path, or from its bytes."""
    if isinstance(found, str):
        return kind.deserialize_file(engine, found)
    return kind.deserialize(engine, found)


def _loaded(
    instance: CommandInstance | Persistent,
    started: float,
    compile_ms: float,
    hit: bool,
    dependencies: dict[str, bool],
    imports: tuple[str, ...],
) -> LoadResult:
    """The `LoadResult` of a linked instance; a persistent one is instantiated first."""
    if isinstance(instance, Persistent):
        violation = instance.warm_up()
        if violation is not None:
            instance.close()
            return _load_failure(
                violation.kind, violation.message, started, dependencies, "instantiate"
            )
    return LoadResult(
        instance=instance,
        compile_ms=compile_ms,
        load_ms=(time.perf_counter() - started) * 1000,
        cache_hit=hit,
        dependencies=dependencies,
        imports=imports,
    )


def _layer(entry: Path) -> int | None:
    """The binary's layer field: 0 for a core module, 1 for a component, None if not wasm."""
    try:
        with entry.open("rb") as handle:
            head = handle.read(8)
    except OSError:
        return None
    if len(head) < 8 or head[:4] != b"\0asm":
        return None
    return int.from_bytes(head[6:8], "little")


def _not_a_module(exc: Exception, entry: Path) -> str:
    if _layer(entry) == 1:
        return "it is a WebAssembly component: set runtime.abi to component"
    if entry.suffix == ".wat" and isinstance(exc, wasmtime.WasmtimeError):
        return wat_message(str(exc), entry)
    return first_line(exc)


def _import_message(exc: wasmtime.WasmtimeError) -> str:
    text = first_line(exc)
    return (
        f"{text}; the platform provides only {WASI} and {NAMESPACE} functions "
        "(docs/abi.md lists what a module may import)"
    )


def _abi_problem(names: frozenset[str], abi: str) -> str | None:
    required = ("_start",) if abi == "command" else REACTOR_EXPORTS
    missing = [name for name in required if name not in names]
    if missing:
        return f"the {abi} ABI needs the export(s) {', '.join(missing)} (docs/abi.md)"
    return None


def _load_failure(
    kind: ViolationKind,
    message: str,
    started: float,
    dependencies: dict[str, bool] | None = None,
    phase: str = "load",
) -> LoadResult:
    return LoadResult(
        violation=Violation(kind=kind, message=message, phase=phase),
        load_ms=(time.perf_counter() - started) * 1000,
        dependencies=dependencies or {},
    )
