"""Isolation backends behind one contract: WASM (wasmtime, the embedded default) and containers."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import assert_never

from sandbench.errors import BackendUnavailable

from .cgi import ProtocolError, cgi_environment, parse_cgi_response, request_envelope
from .fake import FakeBackend
from .interface import (
    CPU_WINDOW_S,
    Closing,
    CompileBounds,
    Grants,
    Instance,
    LoadResult,
    Outcome,
    Request,
    Response,
    SandboxBackend,
    SandboxLimits,
    Usage,
    Violation,
    ViolationKind,
)

__all__ = [
    "CPU_WINDOW_S",
    "BackendKind",
    "Closing",
    "CompileBounds",
    "FakeBackend",
    "Grants",
    "Instance",
    "LoadResult",
    "Outcome",
    "ProtocolError",
    "Request",
    "Response",
    "SandboxBackend",
    "SandboxLimits",
    "Usage",
    "Violation",
    "ViolationKind",
    "cgi_environment",
    "open_backend",
    "parse_cgi_response",
    "request_envelope",
]


class BackendKind(StrEnum):
    """The built-in backends."""

    WASM = "wasm"
    CONTAINER = "container"


def open_backend(
    kind: BackendKind = BackendKind.WASM,
    cache_dir: Path | None = None,
    compile_bounds: CompileBounds | None = None,
) -> SandboxBackend:
    """Open the backend `kind` (a WASM one compiles within `compile_bounds`, else the
    defaults). Raises `BackendUnavailable` when it cannot run here."""
    match kind:
        case BackendKind.WASM:
            try:
                from .wasm import WasmBackend
            except ImportError as exc:  # pragma: no cover - wasmtime is a hard dependency
                raise BackendUnavailable(
                    "wasm", f"wasmtime cannot be imported ({exc})", "pip install 'wasmtime>=50,<51'"
                ) from None
            return WasmBackend(cache_dir, compile_bounds=compile_bounds)
        case BackendKind.CONTAINER:
            try:
                from .container import ContainerBackend
            except ImportError as exc:  # pragma: no cover - docker is a hard dependency
                raise BackendUnavailable(
                    "container", f"the docker SDK cannot be imported ({exc})", "pip install docker"
                ) from None
            return ContainerBackend()
        case _:  # pragma: no cover
            assert_never(kind)
