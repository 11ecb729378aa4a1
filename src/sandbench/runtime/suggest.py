"""Least privilege and right-sizing: what a module used, and the smallest `security` block.

Permissions are judged by what the module did and what the sandbox linked: a permission
that a successful host API call used during the health calls (`Outcome.host`) is used;
otherwise a storage permission counts as used when the module imports a WASI file function
(it may open the bucket's files directly), and any other one is unused. Limits are sized
from the successful calls' measured peaks with a stated headroom, never above what the
calls ran under (`sizing`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from sandbench.hostapi import HostCall
from sandbench.manifests import Manifest, Permission, Resource
from sandbench.sandbox import Outcome, SandboxLimits

from .sizing import HEADROOM, sized_limits, succeeded

__all__ = ["HEADROOM", "PermissionUse", "Suggestion", "observed_use", "permission_use", "suggest"]

_FILE_FUNCTIONS = ("path_open",)
_WASI_FILES = "wasi:filesystem/"


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


_CAPABILITY = {Resource.API: "http", Resource.DATABASE: "database", Resource.STORAGE: "storage"}


def permission_use(
    manifest: Manifest, imports: Sequence[str], calls: Sequence[HostCall] = ()
) -> list[PermissionUse]:
    """Judge each declared permission by the host calls made and the imports (`module::name`)."""
    # A component imports WASI 0.2's file interfaces whole (every Python component does):
    # that is the most the imports can tell; the capability scanner reads its sources.
    opens_files = [
        i for i in imports if i.split("::")[-1] in _FILE_FUNCTIONS or i.startswith(_WASI_FILES)
    ]
    return [_use(permission, opens_files, calls) for permission in manifest.security.permissions]


def observed_use(
    manifest: Manifest, imports: Sequence[str], outcomes: Sequence[Outcome]
) -> list[PermissionUse]:
    """`permission_use` judged by the host calls the `outcomes` (the health calls) made."""
    calls = [call for outcome in outcomes for call in outcome.host.calls]
    return permission_use(manifest, imports, calls)


def _covers(permission: Permission, call: HostCall) -> bool:
    """Did `call` (a successful one) need `permission`?"""
    if call.code != "ok" or call.capability != _CAPABILITY[permission.resource]:
        return False
    target = permission.target.split(":")[0]
    name = call.target.split("/")[0] if permission.resource is Resource.STORAGE else call.target
    if target == "*" or name == target:
        return True
    return target.startswith("*.") and name.endswith(target[1:])


def _use(
    permission: Permission, opens_files: list[str], calls: Sequence[HostCall]
) -> PermissionUse:
    text = str(permission)
    used = [call for call in calls if _covers(permission, call)]
    if used:
        first = used[0]
        evidence = (
            f"{len(used)} host API call(s), e.g. {first.capability} {first.action} {first.target}"
        )
        return PermissionUse(permission=text, used=True, evidence=evidence)
    if permission.resource is Resource.STORAGE:
        if opens_files:
            return PermissionUse(permission=text, used=True, evidence=f"imports {opens_files[0]}")
        return PermissionUse(
            permission=text,
            used=False,
            evidence="no successful storage host API call needed it during the health calls, "
            "and the module imports no WASI file function (path_open)",
        )
    what = {Resource.DATABASE: "database", Resource.API: "http"}[permission.resource]
    return PermissionUse(
        permission=text,
        used=False,
        evidence=f"no successful {what} host API call needed it during the health calls",
    )


def suggest(
    manifest: Manifest,
    limits: SandboxLimits,
    imports: Sequence[str],
    outcomes: Sequence[Outcome],
) -> Suggestion:
    """The smallest `security` block that would have served the observed calls.

    Limits follow `sizing.sized_limits`: only successful calls size them, and no value goes
    above the limit the calls ran under (`limits`).
    """
    declared = manifest.security
    uses = observed_use(manifest, imports, outcomes)
    notes = {u.permission: ("kept: " if u.used else "dropped: ") + u.evidence for u in uses}
    new_limits = sized_limits(declared.limits, limits, outcomes, notes)
    ok = [o for o in outcomes if succeeded(o)]
    kept = [u for u in uses if u.used]
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
