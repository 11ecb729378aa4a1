"""What every sandbench container gets: limits, hardening and labels, all as `run` options.

See docs/containers.md for the table of manifest limits and Docker options.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker.types import LogConfig, Mount, Ulimit

from sandbench.manifests import ContainerRuntime, ModulePackage
from sandbench.sandbox.interface import Grants, SandboxLimits

from .egress import PROXY_PORT, AllowList

__all__ = [
    "HOST_API_MOUNT",
    "HOST_API_SOCKET",
    "LABEL",
    "OWNER",
    "PIDS_LIMIT",
    "SANDBOX_USER",
    "Mounted",
    "chown_buckets",
    "quiet",
    "run_all",
    "run_options",
]

LABEL = "org.sandbench"
OWNER = f"{LABEL}.owner"
PIDS_LIMIT = 64
SANDBOX_USER = (65534, 65534)  # nobody:nogroup
HOST_API_MOUNT = "/run/sandbench"  # the host API's socket folder, inside the container
HOST_API_SOCKET = "host.sock"
# The container's own IPC namespace allows no SysV segment, message queue or semaphore.
IPC_SYSCTLS = {"kernel.shmmax": "0", "kernel.msgmni": "0", "kernel.sem": "0 0 0 0"}


@dataclass(frozen=True)
class Mounted:
    """What the host mounts into a container: `module` (its tree, read-only) and `host`
    (the host API's socket folder), both in a neutral `RunFolder`, and the paths the image
    declares as `VOLUME` (each gets an empty read-only tmpfs)."""

    module: Path
    host: Path
    volumes: tuple[str, ...] | list[str] = ()


def run_options(
    package: ModulePackage,
    runtime: ContainerRuntime,
    limits: SandboxLimits,
    grants: Grants,
    allow: AllowList,
    owner: str,
    mounted: Mounted,
) -> dict[str, Any]:
    """Every `containers.run` option, with the host folders and image volumes in `mounted`."""
    environment = {
        "PORT": str(runtime.port),
        "HOME": "/tmp",  # noqa: S108 - in the container
        "SANDBENCH_HOST_API": f"unix://{HOST_API_MOUNT}/{HOST_API_SOCKET}",
    }
    if allow:
        proxy = f"http://127.0.0.1:{PROXY_PORT}"
        environment |= {"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy}
        environment |= {"http_proxy": proxy, "https_proxy": proxy}
    # The module's own tree, read-only, so that a generic base image can run its code.
    # `mounts` rather than `volumes`: the engine refuses a missing source instead of
    # creating it (as root), so a bucket removed by a Ctrl-C is never brought back.
    mounts = [_bind(mounted.module, "/module", read_only=True)]
    # Read-only is enough: connecting to a unix socket writes nothing to the mount.
    mounts.append(_bind(mounted.host, HOST_API_MOUNT, read_only=True))
    mounts += [_bind(p, f"/storage/{n}", read_only=True) for n, p in grants.storage_read.items()]
    mounts += [_bind(p, f"/storage/{n}", read_only=False) for n, p in grants.storage_write.items()]
    # An image's VOLUME would become a writable anonymous volume on the engine's disk,
    # outside limits.storage: cover each with an empty read-only tmpfs instead.
    taken = {m["Target"] for m in mounts} | {"/tmp"}  # noqa: S108 - in the container
    mounts += [_empty(v) for v in sorted(set(mounted.volumes) - taken)]
    return {
        "command": list(runtime.command) if runtime.command else None,
        "detach": True,
        "user": f"{SANDBOX_USER[0]}:{SANDBOX_USER[1]}",
        "mem_limit": limits.memory_bytes,
        "memswap_limit": limits.memory_bytes,
        "nano_cpus": limits.cpu_millicores * 1_000_000,
        "pids_limit": PIDS_LIMIT,
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={limits.storage_bytes},mode=1777"},  # noqa: S108
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "network_mode": "none",
        # No /dev/shm (a second writable tmpfs beside /tmp), no SysV shared memory or
        # message queues, no POSIX message queues: /tmp is the only writable place.
        "ipc_mode": "none",
        "sysctls": IPC_SYSCTLS,
        "ulimits": [
            Ulimit(name="msgqueue", soft=0, hard=0),
            Ulimit(name="nofile", soft=limits.files, hard=limits.files),
        ],
        "environment": environment,
        "mounts": mounts,
        "working_dir": "/tmp",  # noqa: S108 - in the container
        "labels": {
            LABEL: "1",
            OWNER: owner,
            f"{LABEL}.module": package.manifest.name,
            f"{LABEL}.digest": package.digest,
        },
        "log_config": LogConfig(
            type=LogConfig.types.JSON,
            config={"max-size": str(max(limits.output_bytes, 65536)), "max-file": "2"},
        ),
    }


def _empty(target: str) -> Mount:
    return Mount(target=target, source=None, type="tmpfs", read_only=True, tmpfs_size=4096)


def _bind(source: Path, target: str, *, read_only: bool) -> Mount:
    return Mount(target=target, source=str(source), type="bind", read_only=read_only)


def chown_buckets(grants: Grants) -> list[Callable[[], None]]:
    """Give bucket folders to the sandbox user (root only); return how to give them back."""
    restore: list[Callable[[], None]] = []
    if os.geteuid() != 0:
        return restore
    for path in [*grants.storage_read.values(), *grants.storage_write.values()]:
        info = path.stat()
        os.chown(path, *SANDBOX_USER)
        restore.append(_chowner(path, info.st_uid, info.st_gid))
    return restore


def _chowner(path: Path, uid: int, gid: int) -> Callable[[], None]:
    return lambda: quiet(lambda: os.chown(path, uid, gid))


def run_all(callbacks: list[Callable[[], None]]) -> None:
    for callback in reversed(callbacks):
        callback()


def quiet(action: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):
        action()
