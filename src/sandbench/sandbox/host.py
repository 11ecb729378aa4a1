"""The host API as every backend binds it: one `HostApi` per instance, drained per call.

Both backends import this module (it imports neither `wasmtime` nor `docker`): the WASM
backend binds the `HostApi` to its imports, the container backend serves it on a unix
socket (docs/hostapi.md). Building it and draining its recorder the same way keeps the
reports independent of the backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sandbench.hostapi import HostApi
from sandbench.hostapi.storage import bucket_bytes
from sandbench.manifests import ModulePackage

from .interface import Grants, Outcome, SandboxLimits, Violation, ViolationKind

__all__ = ["host_api", "storage_violation", "with_activity"]


def host_api(package: ModulePackage, limits: SandboxLimits, grants: Grants) -> HostApi:
    """The module's capabilities; no host call may outlast the module's own timeout.

    The caller owns the `HostApi` and closes it with the instance.
    """
    http = grants.host.http
    timeout_s = min(http.timeout_s, limits.timeout_ms / 1000)
    settings = grants.host.model_copy(
        update={"http": http.model_copy(update={"timeout_s": timeout_s})}
    )
    return HostApi(
        package.manifest.security.permissions,
        storage_read=grants.storage_read,
        storage_write=grants.storage_write,
        storage_bytes=limits.storage_bytes,
        network=limits.network,
        settings=settings,
    )


def with_activity(outcome: Outcome, host: HostApi) -> Outcome:
    """`outcome` carrying what the call did through `host` (its recorder starts empty again)."""
    activity = host.recorder.drain()
    if activity.calls or activity.logs or activity.dropped_log_bytes:
        return outcome.model_copy(update={"host": activity})
    return outcome


def storage_violation(buckets: Mapping[str, Path], limit: int) -> Violation | None:
    """The `storage` violation when the writable `buckets` hold more than `limit` bytes
    (as `bucket_bytes` counts them), else None.

    Both backends ask after each call: a module writes into its buckets directly (WASI
    preopens, a container's bind mounts), which no quota can cut off mid-write.
    """
    if not buckets:
        return None
    used = sum(bucket_bytes(path) for path in buckets.values())
    if used <= limit:
        return None
    return Violation(
        kind=ViolationKind.STORAGE,
        message=f"the writable buckets hold {used:,} bytes after the call, above "
        f"limits.storage ({limit:,}); delete what is not needed or raise the limit",
    )
