"""The container backend: modules as HTTP servers in hardened Docker containers (docs/containers.md).

This package is the only place that imports `docker`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .backend import LABEL, PIDS_LIMIT, SANDBOX_USER, ContainerBackend, connect, sweep
from .cgroups import CgroupCounters, CgroupReader
from .egress import PROXY_PORT, AllowList, Denial, EgressProxy
from .images import PYTHON_IMAGE, apt_source, build_python_image
from .instance import ContainerInstance
from .inventory import Distribution, image_distributions, module_image_distributions
from .netns import NetnsDialer

__all__ = [
    "LABEL",
    "PIDS_LIMIT",
    "PROXY_PORT",
    "PYTHON_IMAGE",
    "SANDBOX_USER",
    "AllowList",
    "CgroupCounters",
    "CgroupReader",
    "ContainerBackend",
    "ContainerInstance",
    "Denial",
    "Distribution",
    "EgressProxy",
    "NetnsDialer",
    "apt_source",
    "build_base_image",
    "connect",
    "image_distributions",
    "module_image_distributions",
    "sweep",
]


def build_base_image(
    name: str,
    cache_dir: Path,
    *,
    mirror: str | None = None,
    force: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> str:
    """Build the base image `name` (only `python` so far) and return its reference.

    Raises `BackendUnavailable` without a Docker Engine, `SandboxError` when the build fails.
    """
    if name != "python":
        raise ValueError(f"unknown base image {name!r}; expected python")
    client = connect()
    try:
        return build_python_image(client, cache_dir, mirror=mirror, force=force, progress=progress)
    finally:
        client.close()
