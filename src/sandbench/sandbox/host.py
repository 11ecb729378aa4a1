"""The host API as every backend binds it: one `HostApi` per instance, drained per call.

Both backends import this module (it imports neither `wasmtime` nor `docker`): the WASM
backend binds the `HostApi` to its imports, the container backend serves it on a unix
socket (docs/hostapi.md). Building it and draining its recorder the same way keeps the
reports independent of the backend.
"""

from __future__ import annotations

from sandbench.hostapi import HostApi
from sandbench.manifests import ModulePackage

from .interface import Grants, Outcome, SandboxLimits

__all__ = ["host_api", "with_activity"]


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
