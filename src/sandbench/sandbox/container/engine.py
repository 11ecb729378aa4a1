"""The Docker Engine: connecting to it, and sweeping what dead sandbench runs left on it.

Every container carries an `org.sandbench.owner` label, `host:pid:process-start-time`; a
label whose process no longer runs on this host marks a leftover.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import warnings
from pathlib import Path

import docker
import docker.errors
import psutil

from sandbench.errors import BackendUnavailable

from .hardening import OWNER
from .hostsock import sweep_host_folders
from .runfolder import sweep_run_folders

__all__ = ["ENGINE_HINT", "connect", "owner_of", "sweep"]

ENGINE_HINT = (
    "start a Docker Engine: `sudo dockerd &` or `sudo systemctl start docker`, "
    "or point DOCKER_HOST at one"
)


def connect() -> docker.DockerClient:
    """A client for the Docker Engine the environment names. Raises `BackendUnavailable`."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        raise BackendUnavailable(
            "container", f"no Docker Engine answers (no socket at {host})", ENGINE_HINT
        )
    client: docker.DockerClient | None = None
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except docker.errors.DockerException as exc:
        if client is not None:
            client.close()
        # The SDK leaves the socket of a refused connection open; collect it quietly here
        # rather than at some later, unrelated point.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
        reason = str(exc).splitlines()[0][:200]
        raise BackendUnavailable(
            "container", f"no Docker Engine answers ({reason})", ENGINE_HINT
        ) from None
    return client


def owner_of(pid: int) -> str:
    """The owner label of process `pid`: `host:pid:start-time`."""
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        started = 0.0
    return f"{socket.gethostname()}:{pid}:{started:.2f}"


def _alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_text, _, _ = rest.partition(":")
    if host != socket.gethostname():
        return True  # another machine's engine user; not ours to judge
    return pid_text.isdigit() and owner_of(int(pid_text)) == owner


def sweep(client: docker.DockerClient) -> int:
    """Remove sandbench containers, networks and host API socket folders whose owner process
    is gone; return how many."""
    removed = sweep_host_folders() + sweep_run_folders()
    for container in client.containers.list(all=True, filters={"label": OWNER}):
        if not _alive(container.labels.get(OWNER, "")):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
                removed += 1
    for network in client.networks.list(filters={"label": OWNER}):
        if not _alive((network.attrs.get("Labels") or {}).get(OWNER, "")):
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()
                removed += 1
    return removed
