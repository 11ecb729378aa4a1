"""Least privilege and right-sizing: what a module used, and the smallest `security` block.

Permissions are judged by what the sandbox linked: a WASM module that imports no WASI file
function cannot open a file, so its storage permissions are unused; the WASM host offers
no database or outbound-HTTP function yet (docs/abi.md), so such permissions are unused by
construction. Limits are sized from measured peaks with a stated headroom (x1.5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from sandbench.manifests import Manifest, Permission, Resource
from sandbench.sandbox import Outcome, SandboxLimits
from sandbench.sandbox.budget import FUEL_PER_CPU_SECOND

__all__ = ["HEADROOM", "PermissionUse", "Suggestion", "permission_use", "suggest"]

HEADROOM = 1.5
MiB = 1024 * 1024
_FILE_FUNCTIONS = ("path_open",)


class PermissionUse(BaseModel):
    """Whether a declared permission was used, and the evidence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    permission: str
    used: bool
    evidence: str


class Suggestion(BaseModel):
    """The minimal `security` block and why each value is what it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    security: dict[str, object]
    notes: dict[str, str]


def permission_use(manifest: Manifest, imports: Sequence[str]) -> list[PermissionUse]:
    """Judge each declared permission against the module's imports (`module::name`)."""
    opens_files = [i for i in imports if i.split("::")[-1] in _FILE_FUNCTIONS]
    return [_use(permission, opens_files) for permission in manifest.security.permissions]


def _use(permission: Permission, opens_files: list[str]) -> PermissionUse:
    text = str(permission)
    if permission.resource is Resource.STORAGE:
        if opens_files:
            return PermissionUse(permission=text, used=True, evidence=f"imports {opens_files[0]}")
        return PermissionUse(
            permission=text,
            used=False,
            evidence="the module imports no WASI file function (path_open): it cannot open files",
        )
    what = {Resource.DATABASE: "database", Resource.API: "outbound HTTP"}[permission.resource]
    return PermissionUse(
        permission=text,
        used=False,
        evidence=f"the WASM host offers no {what} function to use it with",
    )


def _round_up(value: float, step: int) -> int:
    return max(step, math.ceil(value / step) * step)


def suggest(
    manifest: Manifest,
    limits: SandboxLimits,
    imports: Sequence[str],
    outcomes: Sequence[Outcome],
) -> Suggestion:
    """The smallest `security` block that would have served the observed calls."""
    declared = manifest.security
    uses = permission_use(manifest, imports)
    notes = {u.permission: ("kept: " if u.used else "dropped: ") + u.evidence for u in uses}
    new_limits: dict[str, object] = {}
    ok = [o for o in outcomes if o.ok]
    if ok:
        peak = max(o.usage.memory_bytes for o in ok)
        memory = _round_up(peak * HEADROOM, MiB)
        new_limits["memory"] = f"{memory // MiB}MiB"
        notes["memory"] = f"peak linear memory {peak:,} bytes x{HEADROOM} headroom"
        fuel = max(o.usage.fuel for o in ok)
        seconds = limits.timeout_ms / 1000
        millicores = _round_up(fuel * HEADROOM / FUEL_PER_CPU_SECOND / seconds * 1000, 10)
        new_limits["cpu"] = f"{millicores}m"
        notes["cpu"] = (
            f"largest call used {fuel:,} fuel; x{HEADROOM} headroom within a "
            f"{limits.timeout_ms} ms timeout (docs/abi.md: 2e9 fuel per CPU-second)"
        )
        slowest = max(o.usage.wall_ms for o in ok)
        timeout = _round_up(max(slowest * 4, 100), 100)
        new_limits["timeout"] = f"{timeout}ms"
        notes["timeout"] = f"slowest of {len(ok)} calls took {slowest:.2f} ms; x4, at least 100 ms"
    else:
        notes["limits"] = "no call succeeded, so there is nothing to size from; kept as declared"
    kept = [u for u in uses if u.used]
    if declared.limits.storage is not None:
        new_limits["storage"] = f"{declared.limits.storage}B"
    reaches_out = any(u.permission.startswith("api:") for u in kept)
    new_limits["network"] = str(declared.limits.network or "none") if reaches_out else "none"
    if ok:
        notes["sample"] = (
            f"sized from {len(ok)} health calls ({manifest.health.request.method} "
            f"{manifest.health.request.path}); exercise heavier requests before adopting it"
        )
    security: dict[str, object] = {
        "permissions": [u.permission for u in kept],
        "csp": dict(declared.csp),
        "limits": new_limits,
    }
    return Suggestion(security=security, notes=notes)
