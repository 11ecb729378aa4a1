"""The WASM backend: wasmtime, embedded in this process. See docs/abi.md.

One engine per backend with fuel metering and epoch interruption on. A ticker thread
advances the epoch every 10 ms, so every call (instantiation, `start`, `_initialize` and
`_start` included) has a wall-clock deadline; fuel gives it a deterministic CPU budget.
Compiled modules are cached on disk, keyed by the wasm's SHA-256, the wasmtime version and
the engine settings.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import itertools
import os
import platform
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import wasmtime

from sandbench.errors import SandboxError
from sandbench.manifests import ModulePackage

from .budget import CappedOutput, CpuShare, call_fuel, ticks_for
from .cache import ArtifactCache, default_cache_dir
from .cgi import ProtocolError, cgi_environment, parse_cgi_response, request_envelope
from .interface import (
    Grants,
    LoadResult,
    Outcome,
    Request,
    SandboxLimits,
    Usage,
    Violation,
    ViolationKind,
)

__all__ = ["WasmBackend"]

TICK_MS = 10.0
STDERR_CAP = 16 * 1024
WASI = "wasi_snapshot_preview1"
ENOTSUP = 58  # WASI errno
_ENGINE_SETTINGS = "consume_fuel=1;epoch_interruption=1;poll_oneoff=enotsup;v1"
_REACTOR_EXPORTS = ("memory", "sandbench_alloc", "sandbench_handle")
_WHAT = {
    "instantiate": "instantiation (its start function or _initialize)",
    "invoke": "the request",
}


def wasmtime_version() -> str:
    """The installed wasmtime-py version."""
    return importlib.metadata.version("wasmtime")


class _Ticker:
    """Advances the engine's epoch every `TICK_MS` until stopped."""

    def __init__(self, engine: wasmtime.Engine) -> None:
        self._engine = engine
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbench-epoch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(TICK_MS / 1000):
            self._engine.increment_epoch()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class _Call:
    """Book-keeping for one call into a store."""

    store: wasmtime.Store
    fuel: int
    stdout: CappedOutput
    stderr: CappedOutput
    started: float = 0.0
    cpu_started: float = 0.0

    def begin(self) -> None:
        self.store.set_fuel(self.fuel)
        self.store.set_epoch_deadline(0)  # replaced below; resets a stale deadline
        self.started = time.perf_counter()
        self.cpu_started = time.thread_time()

    def fuel_used(self) -> int:
        try:
            return self.fuel - self.store.get_fuel()
        except wasmtime.WasmtimeError:  # pragma: no cover - fuel is always on
            return self.fuel


class WasmBackend:
    """`SandboxBackend` on wasmtime. See `SandboxBackend` for the contract."""

    name = "wasm"

    def __init__(self, cache_dir: Path | None = None, *, use_cache: bool = True) -> None:
        config = wasmtime.Config()
        config.consume_fuel = True
        config.epoch_interruption = True
        self._engine = wasmtime.Engine(config)
        self._linker = wasmtime.Linker(self._engine)
        self._linker.define_wasi()
        self._linker.allow_shadowing = True
        i32 = wasmtime.ValType.i32()
        # Blocking in the host would escape the epoch deadline: no sleeping (docs/abi.md).
        self._linker.define_func(
            WASI, "poll_oneoff", wasmtime.FuncType([i32] * 4, [i32]), lambda *_: ENOTSUP
        )
        self._version = wasmtime_version()
        self._cache = (
            ArtifactCache((cache_dir or default_cache_dir()) / "wasm", ".cwasm")
            if use_cache
            else None
        )
        self._scratch = Path(tempfile.mkdtemp(prefix="sandbench-wasm-"))
        self._ticker = _Ticker(self._engine)
        self._closed = False

    def describe(self) -> str:
        """See `SandboxBackend.describe`."""
        return f"wasmtime {self._version}"

    def close(self) -> None:
        """See `SandboxBackend.close`."""
        if self._closed:
            return
        self._closed = True
        self._ticker.stop()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cache_key(self, wasm: bytes) -> str:
        """The artifact cache key of `wasm` under this engine."""
        text = f"{hashlib.sha256(wasm).hexdigest()}|{self._version}|{_ENGINE_SETTINGS}"
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
        started = time.perf_counter()
        try:
            module, compile_ms, hit = self._module(package.entry_path, fresh)
        except wasmtime.WasmtimeError as exc:
            return _load_failure(ViolationKind.INVALID_MODULE, _first_line(exc), started)
        dependencies = {imp.module: imp.module == WASI for imp in module.imports}
        problem = _abi_problem(module, package.manifest.runtime.abi)
        if problem:
            return _load_failure(ViolationKind.INVALID_MODULE, problem, started, dependencies)
        try:
            pre = self._linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:
            message = _import_message(exc)
            if match := re.search(r"`([^`]+)::", message):
                dependencies[match.group(1)] = False
            return _load_failure(ViolationKind.UNKNOWN_IMPORT, message, started, dependencies)
        spec = _Spec(
            engine=self._engine,
            pre=pre,
            name=package.manifest.name,
            limits=limits,
            grants=grants,
            share=CpuShare(limits.cpu_millicores),
            scratch=self._scratch,
        )
        instance: _CommandInstance | _ReactorInstance
        if package.manifest.runtime.abi == "command":
            instance = _CommandInstance(spec)
        else:
            instance = _ReactorInstance(spec)
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
        )

    def _module(self, entry: Path, fresh: bool) -> tuple[wasmtime.Module, float, bool]:
        """Compile `entry` or take it from the cache: (module, compile ms, cache hit)."""
        try:
            source = entry.read_bytes()
        except OSError as exc:
            raise SandboxError(f"{entry}: cannot be read: {exc.strerror}") from None
        started = time.perf_counter()
        wasm = wasmtime.wat2wasm(source.decode("utf-8")) if entry.suffix == ".wat" else source
        key = self.cache_key(bytes(wasm))
        cached = None if fresh or self._cache is None else self._cache.get(key)
        if self._cache is not None and cached is not None:
            try:
                module = wasmtime.Module.deserialize_file(self._engine, str(cached))
                return module, (time.perf_counter() - started) * 1000, True
            except wasmtime.WasmtimeError:
                self._cache.discard(key)  # stale or corrupt: compile afresh
        module = wasmtime.Module(self._engine, bytes(wasm))
        compile_ms = (time.perf_counter() - started) * 1000
        if self._cache is not None:
            self._cache.put(key, module.serialize())
        return module, compile_ms, False


@dataclass
class _Spec:
    """Everything an instance needs to make stores."""

    engine: wasmtime.Engine
    pre: wasmtime.InstancePre
    name: str
    limits: SandboxLimits
    grants: Grants
    share: CpuShare
    scratch: Path


_serial = itertools.count()


class _BaseInstance:
    """Store creation, limits and outcome classification shared by both ABIs."""

    def __init__(self, spec: _Spec) -> None:
        self._spec = spec
        self._closed = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """See `Instance.close`."""
        self._closed = True

    def _new_call(self, env: list[tuple[str, str]], stdin: Path | None) -> _Call:
        limits = self._spec.limits
        store = wasmtime.Store(self._spec.engine)
        store.set_limits(memory_size=limits.memory_bytes, instances=1, tables=4, memories=1)
        stdout, stderr = CappedOutput(limits.output_bytes), CappedOutput(STDERR_CAP)
        wasi = wasmtime.WasiConfig()
        wasi.argv = [self._spec.name]
        wasi.env = env
        if stdin is not None:
            wasi.stdin_file = str(stdin)
        wasi.stdout_custom = stdout
        wasi.stderr_custom = stderr
        for bucket, path in self._spec.grants.storage_read.items():
            wasi.preopen_dir(str(path), f"/storage/{bucket}", fs_mutable=False)
        for bucket, path in self._spec.grants.storage_write.items():
            wasi.preopen_dir(str(path), f"/storage/{bucket}", fs_mutable=True)
        store.set_wasi(wasi)
        fuel = call_fuel(limits.cpu_millicores, limits.timeout_ms)
        return _Call(store=store, fuel=fuel, stdout=stdout, stderr=stderr)

    def _arm(self, call: _Call) -> None:
        call.begin()
        call.store.set_epoch_deadline(ticks_for(self._spec.limits.timeout_ms, TICK_MS))

    def _throttle(self) -> tuple[float, Violation | None]:
        waited = self._spec.share.acquire(self._spec.limits.timeout_ms)
        if waited is None:
            message = (
                f"the module's CPU share ({self._spec.limits.cpu_millicores}m) is used up "
                "for longer than the timeout; it is called more often than its CPU limit allows"
            )
            return 0.0, Violation(kind=ViolationKind.CPU, message=message)
        return waited, None

    def _classify(self, call: _Call, exc: Exception, memory: int, phase: str) -> Violation:
        limits = self._spec.limits
        if call.stdout.overflowed:
            return Violation(
                kind=ViolationKind.OUTPUT,
                phase=phase,
                message=f"output exceeded the {limits.output_bytes}-byte cap; "
                "send less or raise the policy's output limit",
            )
        if isinstance(exc, wasmtime.Trap) and exc.trap_code == wasmtime.TrapCode.OUT_OF_FUEL:
            return Violation(
                kind=ViolationKind.CPU,
                phase=phase,
                message=f"used its CPU budget ({limits.cpu_millicores}m for "
                f"{limits.timeout_ms} ms = {call.fuel:,} fuel) before finishing "
                f"{_WHAT[phase]}; make it cheaper or raise limits.cpu",
            )
        if isinstance(exc, wasmtime.Trap) and exc.trap_code == wasmtime.TrapCode.INTERRUPT:
            return Violation(
                kind=ViolationKind.TIMEOUT,
                phase=phase,
                message=f"{_WHAT[phase]} still running after limits.timeout "
                f"({limits.timeout_ms} ms)",
            )
        text = _first_line(exc)
        if "exceeds memory limits" in text or _near_limit(memory, limits.memory_bytes):
            return Violation(
                kind=ViolationKind.MEMORY,
                phase=phase,
                message=f"failed after reaching limits.memory ({limits.memory_bytes:,} bytes; "
                f"linear memory {memory:,} bytes): {text}",
            )
        if isinstance(exc, wasmtime.ExitTrap):
            return Violation(
                kind=ViolationKind.EXIT,
                phase=phase,
                exit_code=exc.code,
                message=f"exited with status {exc.code}"
                + (f"; stderr: {_tail(call.stderr)}" if call.stderr.size else ""),
            )
        if isinstance(exc, wasmtime.Trap) and exc.trap_code == wasmtime.TrapCode.STACK_OVERFLOW:
            return Violation(
                kind=ViolationKind.STACK,
                phase=phase,
                message="call stack exhausted (unbounded recursion?)",
            )
        return Violation(kind=ViolationKind.TRAP, phase=phase, message=f"trapped: {text}")

    def _finish(
        self,
        call: _Call,
        memory: int,
        violation: Violation | None,
        output: bytes | None,
        **usage: float,
    ) -> Outcome:
        fuel = call.fuel_used()
        self._spec.share.charge(fuel)
        response = None
        if violation is None and output is not None:
            try:
                response = parse_cgi_response(output)
            except ProtocolError as exc:
                violation = Violation(kind=ViolationKind.PROTOCOL, message=str(exc))
        return Outcome(
            response=response,
            violation=violation,
            stderr=call.stderr.getvalue().decode("utf-8", "replace"),
            usage=Usage(
                wall_ms=(time.perf_counter() - call.started) * 1000,
                cpu_ms=(time.thread_time() - call.cpu_started) * 1000,
                fuel=fuel,
                memory_bytes=memory,
                output_bytes=len(output or b""),
                **usage,
            ),
        )


class _CommandInstance(_BaseInstance):
    """`command` ABI: a fresh store and instance per request."""

    def invoke(self, request: Request) -> Outcome:
        """See `Instance.invoke`."""
        if self._closed:
            raise SandboxError("instance is closed")
        throttled, refused = self._throttle()
        if refused is not None:
            return Outcome(violation=refused)
        stdin = self._stdin(request.body)
        call = self._new_call(cgi_environment(request, self._spec.name), stdin)
        memory, instantiate_ms = 0, 0.0
        instance: wasmtime.Instance | None = None
        try:
            self._arm(call)
            instance = self._spec.pre.instantiate(call.store)
            instantiate_ms = (time.perf_counter() - call.started) * 1000
            start = instance.exports(call.store)["_start"]
            if not isinstance(start, wasmtime.Func):
                raise wasmtime.WasmtimeError("_start is not a function")
            try:
                start(call.store)
            except wasmtime.ExitTrap as exit_trap:
                if exit_trap.code != 0:
                    raise
            memory = _memory_size(instance, call.store)
            violation = (
                self._classify(call, RuntimeError("output cap"), memory, "invoke")
                if call.stdout.overflowed
                else None
            )
            output = call.stdout.getvalue()
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            memory = _memory_size(instance, call.store) if instance is not None else 0
            phase = "instantiate" if instance is None else "invoke"
            violation, output = self._classify(call, exc, memory, phase), None
        finally:
            if stdin is not None:
                stdin.unlink(missing_ok=True)
        try:
            return self._finish(
                call,
                memory,
                violation,
                output,
                instantiate_ms=instantiate_ms,
                throttled_ms=throttled,
            )
        finally:
            call.store.close()

    def _stdin(self, body: bytes) -> Path | None:
        if not body:
            return None
        path = self._spec.scratch / f"stdin-{os.getpid()}-{next(_serial)}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        return path


class _ReactorInstance(_BaseInstance):
    """`reactor` ABI: one live instance, re-created after any violation."""

    def __init__(self, spec: _Spec) -> None:
        super().__init__(spec)
        self._live: tuple[_Call, wasmtime.Instance] | None = None

    def close(self) -> None:
        """See `Instance.close`."""
        self._discard()
        super().close()

    def _discard(self) -> None:
        if self._live is not None:
            self._live[0].store.close()
            self._live = None

    def warm_up(self) -> Violation | None:
        """Instantiate now (running `start` and `_initialize`), so load failures show at load."""
        _, violation = self._ensure()
        return violation

    def _ensure(self) -> tuple[float, Violation | None]:
        """Make sure a live instance exists; returns (instantiate ms, violation)."""
        if self._live is not None:
            return 0.0, None
        env = [("SANDBENCH_ABI", "1"), ("SANDBENCH_MODULE", self._spec.name)]
        call = self._new_call(env, None)
        try:
            self._arm(call)
            instance = self._spec.pre.instantiate(call.store)
            init = instance.exports(call.store).get("_initialize")
            if isinstance(init, wasmtime.Func):
                init(call.store)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            violation = self._classify(call, exc, 0, "instantiate")
            self._spec.share.charge(call.fuel_used())
            call.store.close()
            return 0.0, violation
        self._spec.share.charge(call.fuel_used())
        self._live = (call, instance)
        return (time.perf_counter() - call.started) * 1000, None

    def invoke(self, request: Request) -> Outcome:
        """See `Instance.invoke`."""
        if self._closed:
            raise SandboxError("instance is closed")
        throttled, refused = self._throttle()
        if refused is not None:
            return Outcome(violation=refused)
        instantiate_ms, violation = self._ensure()
        if violation is not None or self._live is None:
            return Outcome(violation=violation, usage=Usage(instantiate_ms=instantiate_ms))
        call, instance = self._live
        call.stdout.reset()
        call.stderr.reset()
        memory, output = 0, None
        try:
            self._arm(call)
            output = self._handle(call, instance, request_envelope(request))
            memory = _memory_size(instance, call.store)
            if call.stdout.overflowed:
                violation = self._classify(call, RuntimeError("log cap"), memory, "invoke")
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            memory = _memory_size(instance, call.store)
            violation = self._classify(call, exc, memory, "invoke")
        except ProtocolError as exc:
            violation = Violation(kind=ViolationKind.PROTOCOL, message=str(exc))
        outcome = self._finish(
            call,
            memory,
            violation,
            output,
            instantiate_ms=instantiate_ms,
            throttled_ms=throttled,
        )
        if outcome.violation is not None:
            self._discard()  # a trapped instance is never re-entered
        return outcome

    def _handle(self, call: _Call, instance: wasmtime.Instance, envelope: bytes) -> bytes:
        exports = instance.exports(call.store)
        memory, alloc, handle = (exports[name] for name in _REACTOR_EXPORTS)
        if not isinstance(memory, wasmtime.Memory):
            raise ProtocolError("the export `memory` is not a memory")
        if not isinstance(alloc, wasmtime.Func) or not isinstance(handle, wasmtime.Func):
            raise ProtocolError("sandbench_alloc and sandbench_handle must be functions")
        ptr = alloc(call.store, len(envelope))
        if not isinstance(ptr, int) or ptr <= 0:
            raise ProtocolError(f"sandbench_alloc({len(envelope)}) returned {ptr!r}")
        size = memory.data_len(call.store)
        if ptr + len(envelope) > size:
            raise ProtocolError(f"sandbench_alloc returned {ptr}, outside memory ({size} bytes)")
        memory.write(call.store, envelope, ptr)
        packed = handle(call.store, ptr, len(envelope))
        if not isinstance(packed, int):
            raise ProtocolError("sandbench_handle must return an i64")
        out_ptr, out_len = (packed >> 32) & 0xFFFFFFFF, packed & 0xFFFFFFFF
        limit = self._spec.limits.output_bytes
        if out_len > limit:
            call.stdout.overflowed = True
            raise wasmtime.WasmtimeError("output cap")
        size = memory.data_len(call.store)
        if out_ptr + out_len > size:
            raise ProtocolError(
                f"sandbench_handle returned {out_len} bytes at {out_ptr}, outside memory ({size})"
            )
        return bytes(memory.read(call.store, out_ptr, out_ptr + out_len))


def _memory_size(instance: wasmtime.Instance, store: wasmtime.Store) -> int:
    memory = instance.exports(store).get("memory")
    return memory.data_len(store) if isinstance(memory, wasmtime.Memory) else 0


def _near_limit(memory: int, limit: int) -> bool:
    """Did linear memory get within reach of the limit (one MiB or 5 %, whichever is more)?"""
    return memory > 0 and limit - memory < max(1024 * 1024, limit // 20)


def _tail(output: CappedOutput) -> str:
    text = output.getvalue().decode("utf-8", "replace").strip()
    return text[-300:].replace("\n", " | ")


def _first_line(exc: BaseException) -> str:
    """The sentence that says what happened, without wasmtime's backtrace."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    for line in lines:
        if "wasm trap:" in line:
            return line.split("wasm trap:", 1)[1].strip()
    return lines[0] if lines else type(exc).__name__


def _import_message(exc: wasmtime.WasmtimeError) -> str:
    text = _first_line(exc)
    return (
        f"{text}; the platform provides only {WASI} functions "
        "(docs/abi.md lists what a module may import)"
    )


def _abi_problem(module: wasmtime.Module, abi: str) -> str | None:
    names = {export.name for export in module.exports}
    required = ("_start",) if abi == "command" else _REACTOR_EXPORTS
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
