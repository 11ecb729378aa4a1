"""Modules loaded once and kept live for calls: what a developer's test invokes."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sandbench.errors import SandboxError
from sandbench.manifests import ModulePackage, load
from sandbench.sandbox import (
    BackendKind,
    Closing,
    Instance,
    Outcome,
    Request,
    SandboxBackend,
    SandboxLimits,
    Violation,
    open_backend,
)

from .loader import Workspace, health_request, limits_for

__all__ = ["LiveModule", "LiveModules"]


class LiveModule(Closing):
    """`package` loaded in `backend` with its manifest's limits (clamped by `ceilings`,
    `defaults` where it declares none) and empty temporary storage buckets.

    `not_loaded` says why it did not load (then `invoke` raises `SandboxError`). Raises
    `SandboxError` for a host fault while loading, with nothing left behind.
    """

    def __init__(
        self,
        package: ModulePackage,
        backend: SandboxBackend,
        defaults: SandboxLimits,
        ceilings: SandboxLimits,
    ) -> None:
        self.package = package
        self.limits: SandboxLimits = limits_for(package.manifest, defaults, ceilings).limits
        self.health_request = health_request(package.manifest)
        self._stack = ExitStack()
        workspace = self._stack.enter_context(Workspace(package.manifest))
        try:
            result = backend.load(package, self.limits, workspace.grants)
        except BaseException:
            self._stack.close()
            raise
        self.violation: Violation | None = result.violation
        self._instance: Instance | None = None
        if result.instance is None:
            self._stack.close()
        else:
            self._instance = self._stack.enter_context(result.instance)

    @property
    def not_loaded(self) -> str | None:
        """Why the module did not load (the violation's message), or None when it did."""
        if self._instance is not None:
            return None
        return self.violation.message if self.violation is not None else "no instance"

    def invoke(self, request: Request | None = None, **fields: Any) -> Outcome:
        """Send `request` (or `Request(**fields)`); never raises for what the module did."""
        if self._instance is None:
            raise SandboxError(f"{self.package.root}: the module did not load: {self.not_loaded}")
        return self._instance.invoke(request if request is not None else Request(**fields))

    def close(self) -> None:
        """Close the instance and remove the storage folders. Closing twice is harmless."""
        self._stack.close()


class LiveModules(Closing):
    """A backend (`kind`), opened once, loading modules as `LiveModule`s under `defaults`
    and `ceilings` (the pytest plugin's session). Raises `BackendUnavailable` when it
    cannot run here."""

    def __init__(self, kind: BackendKind, defaults: SandboxLimits, ceilings: SandboxLimits) -> None:
        self._backend = open_backend(kind)
        self._limits = (defaults, ceilings)

    def load(self, path: Path | str) -> LiveModule:
        """The module folder at `path`, loaded. Raises `ManifestError` for an invalid
        module and `SandboxError` for host faults."""
        return LiveModule(load(path), self._backend, *self._limits)

    def close(self) -> None:
        """Close the backend. Closing twice is harmless."""
        self._backend.close()
