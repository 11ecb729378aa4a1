"""The sandbox contract: one backend loads a module, an instance answers requests.

    backend.load(package, limits, grants) -> LoadResult     compile (cached), link, maybe instantiate
    result.instance.invoke(request)       -> Outcome        never raises for what the module did
    instance.close(); backend.close()                        release native resources; twice is harmless

A backend owns its native resources. Whoever calls `load` owns the instance it returns and
must close it (use `with`). Exceptions are for the host's own faults (`SandboxError`,
`BackendUnavailable`); a trap, an exhausted budget, a flood of output or an unknown import
are `Violation`s inside the result.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Annotated, Protocol, Self, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from sandbench._camel import CAMEL
from sandbench.hostapi import Activity, HostSettings
from sandbench.manifests import LIMITS, ModulePackage, Rate, limit
from sandbench.sandbox.compile_record import CompileRecord

__all__ = [
    "CPU_WINDOW_S",
    "Closing",
    "CompileBounds",
    "Grants",
    "Instance",
    "LoadResult",
    "Outcome",
    "Request",
    "Response",
    "SandboxBackend",
    "SandboxLimits",
    "Usage",
    "Violation",
    "ViolationKind",
    "hostcalls_violation",
]

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class SandboxLimits(BaseModel):
    """The limits a sandbox enforces, as plain numbers. Defaults are finite and deny-all.

    One field per row of `manifests.LIMITS` (named by its `field`, defaulting to its built-in
    default), written out so that backends read them as typed attributes; `numbers()` gives
    them by row. A test checks the fields against the table.
    """

    model_config = _FROZEN

    memory_bytes: int = Field(default=limit("memory").default_value, gt=0)
    cpu_millicores: int = Field(default=limit("cpu").default_value, gt=0)
    timeout_ms: int = Field(default=limit("timeout").default_value, gt=0)
    output_bytes: int = Field(default=limit("output").default_value, gt=0)
    storage_bytes: int = Field(default=limit("storage").default_value, gt=0)
    files: int = Field(default=limit("files").default_value, gt=0)
    host_calls: int = Field(default=limit("hostcalls").default_value, gt=0)
    network: Rate | None = None

    def numbers(self) -> dict[str, int]:
        """Each limit of the table: its `field` -> the number enforced."""
        return {spec.field: getattr(self, spec.field) for spec in LIMITS}


class CompileBounds(BaseModel):
    """What compiling one module's wasm may use, whatever the module (policy `compile_memory`
    and `compile_timeout_s`): address space in bytes, and wall-clock seconds. The 1 GiB
    default is 1.6-2x the 512-640 MiB the largest Python component here needs (docs/abi.md,
    "Compiling")."""

    model_config = _FROZEN

    memory: int = Field(default=1 << 30, gt=0)
    timeout_s: float = Field(default=180.0, gt=0)


class Grants(BaseModel):
    """Host resources granted from the manifest's permissions: bucket name -> host dir."""

    model_config = _FROZEN

    storage_read: dict[str, Path] = Field(default_factory=dict)
    storage_write: dict[str, Path] = Field(default_factory=dict)
    host: HostSettings = Field(
        default_factory=HostSettings,
        description="where the host API's http and database capabilities reach",
    )


# The window `limits.cpu` holds over, in seconds: a module may use its share times this
# within any such window (the WASM share is a token bucket of this many seconds of it,
# budget.py; a container's CFS period is shorter). Reports measure usage over at least it.
CPU_WINDOW_S = 1.0


class ViolationKind(StrEnum):
    """What a module did wrong, in words a module author can search for."""

    MEMORY = "memory"
    CPU = "cpu"
    TIMEOUT = "timeout"
    OUTPUT = "output"
    STACK = "stack-overflow"
    TRAP = "trap"
    EXIT = "exit"
    UNKNOWN_IMPORT = "unknown-import"
    INVALID_MODULE = "invalid-module"
    PROTOCOL = "protocol"
    PIDS = "pids"
    NETWORK_DENIED = "network-denied"
    STORAGE = "storage"
    FILES = "files"
    HOSTCALLS = "hostcalls"
    PROCESS = "process"


class Violation(BaseModel):
    """A limit the module broke or a way it failed; `message` says what to do about it."""

    model_config = CAMEL

    kind: ViolationKind
    message: str
    phase: str = Field(default="invoke", description="load | instantiate | invoke")
    exit_code: int | None = None
    detail: str = Field(default="", description="more than the one line, e.g. the traceback")


def hostcalls_violation(refused: int, limit: int, refusal: str) -> Violation:
    """The `hostcalls` violation of a call that had `refused` host API calls refused past
    `limit` (`limits.hostcalls`); `refusal` says how each refusal reached the module (WASM:
    `quota (-3)`, containers: `HTTP 507 quota`). Both backends word it here, once."""
    return Violation(
        kind=ViolationKind.HOSTCALLS,
        message=f"{refused} host call(s) refused with {refusal}: the request had already made "
        f"limits.hostcalls ({limit}); make fewer host calls per request (batch them) or raise "
        "limits.hostcalls",
    )


class Request(BaseModel):
    """An HTTP request for a module. Header names are lower case."""

    model_config = _FROZEN

    method: str = "GET"
    path: str = "/"
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


class Response(BaseModel):
    """A module's HTTP answer, parsed from its CGI output."""

    model_config = _FROZEN

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


class Usage(BaseModel):
    """What one call used.

    `cpu_ms` is the module's CPU time as the backend measures it, the unit `limits.cpu` is
    enforced in (WASM: the CPU time of the thread that ran the call, from arming it to its
    return or trap; containers: the cgroup's counter); `host_cpu_ms` is what this process
    spent on the call, sandbox overhead (building the outcome) included. `fuel` is what the
    WASM call consumed: the hard stop inside a call, not a measure of CPU. `slept_ms` is the
    wall time the module asked to wait (WASI `poll_oneoff` clocks); `stderr_dropped_bytes`
    what it wrote to stderr past the 16 KiB kept per call.
    """

    model_config = _FROZEN

    wall_ms: float = 0.0
    cpu_ms: float = 0.0
    host_cpu_ms: float = 0.0
    fuel: int = 0
    memory_bytes: int = 0
    output_bytes: int = 0
    instantiate_ms: float = 0.0
    throttled_ms: float = 0.0
    slept_ms: float = 0.0
    stderr_dropped_bytes: int = 0

    @property
    def own_ms(self) -> float:
        """The call's own time: CPU (the module's or the host thread's, whichever is more)
        plus the time the module chose to sleep. Waiting for a busy machine's cores is not
        in it, so it does not grow when the machine is busy."""
        return max(self.cpu_ms, self.host_cpu_ms) + self.slept_ms


class Outcome(BaseModel):
    """The result of one call: a response, or a violation, and always the usage."""

    model_config = _FROZEN

    response: Response | None = None
    violation: Violation | None = None
    usage: Usage = Usage()
    stderr: str = ""
    host: Activity = Field(
        default_factory=Activity, description="host API calls (allowed and denied) and logs"
    )

    @property
    def ok(self) -> bool:
        """True when the module answered and broke nothing."""
        return self.violation is None and self.response is not None


class LoadResult(BaseModel):
    """The result of loading a module: an instance to call, or the violation that stopped it."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    # The backend made it; skip the (slow) runtime Protocol check on every load.
    instance: Annotated[Instance | None, SkipValidation] = None
    violation: Violation | None = None
    compile_ms: float = 0.0
    load_ms: float = 0.0
    cache_hit: bool = False
    dependencies: dict[str, bool] = Field(
        default_factory=dict,
        description="each interface the module imports -> whether the host provides it",
    )
    imports: tuple[str, ...] = Field(default=(), description="every import, as module::name")
    compiled: CompileRecord | None = Field(
        default=None,
        description="the artifact's measured compile: kept with the cache entry on a hit, "
        "made by this load otherwise (None when the backend keeps none)",
    )


class Closing:
    """Mixin for objects that own resources: `with obj:` calls `obj.close()` on the way out."""

    def close(self) -> None:
        """Release what the object holds; closing twice is harmless."""
        raise NotImplementedError  # pragma: no cover

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@runtime_checkable
class Instance(Protocol):
    """A loaded module that answers requests. Close it when done; closing twice is harmless."""

    def invoke(self, request: Request) -> Outcome:
        """Send one request. Never raises for anything the module did."""
        ...  # pragma: no cover

    def close(self) -> None:
        """Release the instance's native resources."""
        ...  # pragma: no cover

    def __enter__(self) -> Self: ...  # pragma: no cover

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...  # pragma: no cover


class SandboxBackend(Protocol):
    """An isolation backend (`wasm`, later `container`)."""

    name: str

    def load(
        self,
        package: ModulePackage,
        limits: SandboxLimits,
        grants: Grants,
        *,
        fresh: bool = False,
    ) -> LoadResult:
        """Prepare the package and return an instance, or the violation that stopped it.

        Compiled artifacts are cached; `fresh=True` ignores the cache (a cold load) and
        refreshes it. Raises `SandboxError` only for host faults. The caller owns and
        closes the instance.
        """
        ...  # pragma: no cover

    def describe(self) -> str:
        """The engine and version, for the report (e.g. `wasmtime 50.0.1`)."""
        ...  # pragma: no cover

    def close(self) -> None:
        """Release the backend's resources (threads, caches); closing twice is harmless."""
        ...  # pragma: no cover


LoadResult.model_rebuild()
