"""Module lifecycle: limits from the manifest, grants from permissions, the health request.

`limits_for` turns the manifest's declared limits into the numbers a sandbox enforces,
filling gaps from the defaults and clamping to the ceilings (both from the policy).
`Workspace` creates the host directories that storage permissions grant and removes what
it created when closed.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from sandbench._tree import remove_tree
from sandbench.errors import SandboxError
from sandbench.hostapi import HostSettings
from sandbench.manifests import LIMITS, Manifest, Resource
from sandbench.sandbox import Closing, Grants, Request, SandboxLimits
from sandbench.sandbox.scratch import scratch_dir

__all__ = ["AppliedLimits", "Workspace", "health_request", "limits_for"]


class AppliedLimits(BaseModel):
    """The limits in force, and a note for each declared limit that a ceiling cut down."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limits: SandboxLimits
    clamped: tuple[str, ...] = ()


def limits_for(
    manifest: Manifest, defaults: SandboxLimits, ceilings: SandboxLimits
) -> AppliedLimits:
    """The sandbox limits for `manifest`: declared, else default; never above the ceiling."""
    declared = manifest.security.limits
    values: dict[str, object] = {}
    notes: list[str] = []
    for spec in LIMITS:  # a limit a manifest cannot declare (output) is the policy's alone
        wanted = getattr(declared, spec.name) if spec.declared else None
        ceiling = getattr(ceilings, spec.field)
        value = getattr(defaults, spec.field) if wanted is None else wanted
        if value > ceiling:
            if wanted is not None:
                notes.append(
                    f"limits.{spec.name}: declared {wanted} is above the ceiling {ceiling}"
                )
            value = ceiling
        values[spec.field] = value
    values["network"] = declared.network
    return AppliedLimits(limits=SandboxLimits.model_validate(values), clamped=tuple(notes))


class Workspace(Closing):
    """Host folders for a module's storage buckets, under `root` (a private temp dir if None).

    Buckets that already exist under `root` are used as they are (so a developer can give
    test data); folders the workspace created are removed on `close()`. `host` says where
    the host API's database and outbound HTTP reach (default: private SQLite files, DNS).
    """

    def __init__(
        self, manifest: Manifest, root: Path | None = None, host: HostSettings | None = None
    ) -> None:
        self._owned = root is None
        self.root = scratch_dir("storage") if root is None else root
        self._created: list[Path] = []
        read: dict[str, Path] = {}
        write: dict[str, Path] = {}
        try:
            for permission in manifest.security.permissions:
                if permission.resource is not Resource.STORAGE or permission.is_wildcard:
                    continue
                target = read if permission.action == "read" else write
                target[permission.target] = self._bucket(permission.target)
        except OSError as exc:
            self.close()
            raise SandboxError(f"storage folder under {self.root}: {exc.strerror}") from None
        for bucket in write:
            read.pop(bucket, None)  # write implies read; one preopen per bucket
        self.grants = Grants(storage_read=read, storage_write=write, host=host or HostSettings())

    def _bucket(self, name: str) -> Path:
        path = self.root / name
        if not path.is_dir():
            path.mkdir(parents=True, mode=0o700)
            self._created.append(path)
        return path.resolve()

    def close(self) -> None:
        """Remove what this workspace created. Closing twice is harmless."""
        if self._owned:
            remove_tree(self.root)
        else:
            for path in self._created:
                remove_tree(path)
        self._created.clear()


def health_request(manifest: Manifest) -> Request:
    """The manifest's health request as a sandbox `Request`."""
    spec = manifest.health.request
    parts = urlsplit(spec.path)
    headers = tuple((name.lower(), value) for name, value in spec.headers.items())
    return Request(
        method=spec.method,
        path=parts.path or "/",
        query=parts.query,
        headers=headers,
        body=spec.body.encode(),
    )
