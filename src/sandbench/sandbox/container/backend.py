"""The container backend: a real Docker Engine through the `docker` SDK. See docs/containers.md.

Every container gets, from the manifest's limits: `mem_limit` with swap equal (no swap),
`nano_cpus` from millicores, a pids limit, a read-only root with a `/tmp` tmpfs sized
from `storage` (the only writable place), `cap_drop=ALL`, `no-new-privileges`, a non-root
user, `network_mode=none`, a size-capped log, bind mounts for granted buckets (`:read`
read-only), and, from a neutral run folder (`runfolder.py`), its module tree and the
folder of its host API socket (`hostsock.py`). The host API and the egress proxy of all
the instances of one module share one connection cap per server. Containers carry
`org.sandbench.*` labels; the backend removes its own on `close()` and, when it opens,
sweeps those left by a sandbench process that no longer runs (`engine.py`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import docker.errors

from sandbench.errors import SandboxError
from sandbench.hostapi.serve import ConnectionCap
from sandbench.manifests import ContainerRuntime, ModulePackage, Resource
from sandbench.sandbox.interface import (
    Closing,
    Grants,
    LoadResult,
    SandboxLimits,
    Violation,
    ViolationKind,
)

from .cgroups import CgroupReader
from .egress import PROXY_PORT, AllowList, EgressProxy
from .engine import connect, owner_of, sweep
from .hardening import (
    LABEL,
    OWNER,
    PIDS_LIMIT,
    SANDBOX_USER,
    Mounted,
    chown_buckets,
    quiet,
    run_all,
    run_options,
)
from .hostsock import HostSocket
from .images import build_module_image, module_image_tag
from .instance import ContainerInstance, LogTail, Started, process_alive
from .netns import NetnsDialer
from .runfolder import RunFolder

__all__ = ["LABEL", "PIDS_LIMIT", "SANDBOX_USER", "ContainerBackend", "connect", "sweep"]

START_TIMEOUT_S = 15.0


class ContainerBackend(Closing):
    """`SandboxBackend` on a Docker Engine. See `SandboxBackend` for the contract.

    Raises `BackendUnavailable` when no engine answers.
    """

    name = "container"

    def __init__(self, client: docker.DockerClient | None = None) -> None:
        self._client = client or connect()
        self._owner = owner_of(os.getpid())
        self._built: dict[str, str] = {}
        self._instances: list[ContainerInstance] = []
        self._pool: dict[str, list[LoadResult]] = {}
        self._module_caps: dict[str, tuple[ConnectionCap, ConnectionCap]] = {}
        self._closed = False
        self.swept = sweep(self._client)

    @property
    def client(self) -> docker.DockerClient:
        """The engine client (for image helpers and tests)."""
        return self._client

    def describe(self) -> str:
        """See `SandboxBackend.describe`."""
        version = self._client.version().get("Version", "?")
        return f"docker {version}"

    def prewarm(
        self, package: ModulePackage, limits: SandboxLimits, grants: Grants, count: int = 1
    ) -> int:
        """Start up to `count` containers now, for later `load`s of the same module, limits
        and grants to take (a warm pool). Returns how many are waiting. A start that fails is
        not pooled: the next `load` meets the failure itself.
        """
        waiting = self._pool.setdefault(_pool_key(package, limits, grants), [])
        for _ in range(count):
            result = self._load_new(package, limits, grants, fresh=False)
            if result.instance is None:
                break
            waiting.append(result)
        return len(waiting)

    def load(
        self, package: ModulePackage, limits: SandboxLimits, grants: Grants, *, fresh: bool = False
    ) -> LoadResult:
        """See `SandboxBackend.load`. `fresh` rebuilds a `build` image (layer cache kept) and
        bypasses the warm pool; otherwise a container `prewarm` started is taken first.
        """
        if self._closed:
            raise SandboxError("the container backend is closed")
        waiting = self._pool.get(_pool_key(package, limits, grants))
        if waiting and not fresh:
            begin = time.perf_counter()
            pooled = waiting.pop(0)
            return pooled.model_copy(
                update={"load_ms": (time.perf_counter() - begin) * 1000, "cache_hit": True}
            )
        return self._load_new(package, limits, grants, fresh=fresh)

    def _load_new(
        self, package: ModulePackage, limits: SandboxLimits, grants: Grants, *, fresh: bool
    ) -> LoadResult:
        runtime = package.manifest.runtime
        if not isinstance(runtime, ContainerRuntime):
            raise SandboxError(f"{package.root}: runtime.kind is {runtime.kind}, not container")
        begin = time.perf_counter()
        image, violation, hit = self._image(package, runtime, fresh)
        compile_ms = (time.perf_counter() - begin) * 1000
        if violation is not None:
            return LoadResult(violation=violation, compile_ms=compile_ms)
        result = self._start(package, runtime, image, limits, grants)
        load_ms = (time.perf_counter() - begin) * 1000
        if isinstance(result, Violation):
            return LoadResult(violation=result, compile_ms=compile_ms, load_ms=load_ms)
        self._instances.append(result)
        return LoadResult(
            instance=result,
            compile_ms=compile_ms,
            load_ms=load_ms,
            cache_hit=hit,
            dependencies={"http": True},
        )

    def _image(
        self, package: ModulePackage, runtime: ContainerRuntime, fresh: bool
    ) -> tuple[str, Violation | None, bool]:
        if runtime.image is not None:
            try:
                self._client.images.get(runtime.image)
            except docker.errors.ImageNotFound:
                return runtime.image, _invalid(_missing_image(runtime.image)), False
            return runtime.image, None, True
        if not fresh and package.digest in self._built:
            return self._built[package.digest], None, True
        return self._build(package, runtime)

    def _build(
        self, package: ModulePackage, runtime: ContainerRuntime
    ) -> tuple[str, Violation | None, bool]:
        try:
            image_id = build_module_image(self._client, package, runtime)
        except SandboxError as exc:
            return module_image_tag(package), _invalid(str(exc)), False
        self._built[package.digest] = image_id
        return image_id, None, False

    def _start(
        self,
        package: ModulePackage,
        runtime: ContainerRuntime,
        image: str,
        limits: SandboxLimits,
        grants: Grants,
    ) -> ContainerInstance | Violation:
        allow = AllowList(
            p.target for p in package.manifest.security.permissions if p.resource is Resource.API
        )
        # Mounted from a neutral per-run folder: mountinfo inside shows no path of ours.
        run = RunFolder()
        try:
            module = run.module_copy(package.root)
        except OSError as exc:  # a special file, an unreadable one: the module's doing
            run.remove()
            return _invalid(f"the module's files cannot be mounted: {str(exc)[:300]}")
        try:
            caps = self._caps(package)
            host = HostSocket(package, limits, grants, run.folder("host"), caps[0])
        except BaseException:
            run.remove()
            raise
        # Every way out of a start runs these; a started instance runs them when it closes.
        restore: list[Callable[[], None]] = [run.remove, host.close]
        try:
            restore += chown_buckets(grants)
            volumes = self._volumes(image)
            mounted = Mounted(module=module, host=host.folder, volumes=volumes)
            options = run_options(package, runtime, limits, grants, allow, self._owner, mounted)
            with _signals_deferred():
                container = self._client.containers.run(image, **options)
        except docker.errors.DockerException as exc:
            run_all(restore)
            text = getattr(exc, "explanation", None) or str(exc)
            return _invalid(f"the container did not start: {str(text)[:300]}")
        except BaseException:  # Ctrl-C while the engine creates: give the buckets back
            run_all(restore)
            raise
        try:
            return self._attach(container, runtime, limits, allow, restore, host, grants, caps[1])
        except BaseException:
            # Interrupted before an instance owned the container (or while it closed):
            # the callbacks are harmless twice, and the host folder must not stay.
            quiet(lambda: container.remove(force=True))
            run_all(restore)
            raise

    def _caps(self, package: ModulePackage) -> tuple[ConnectionCap, ConnectionCap]:
        """The host API's and the egress proxy's connection caps, one pair per module: its
        instances share the bound, however many `--instances` run."""
        if package.digest not in self._module_caps:
            pair = (ConnectionCap("the host API"), ConnectionCap("the egress proxy"))
            self._module_caps[package.digest] = pair
        return self._module_caps[package.digest]

    def _volumes(self, image: str) -> list[str]:
        """The paths `image` declares as `VOLUME`. Raises what the SDK raises."""
        config = self._client.images.get(image).attrs.get("Config") or {}
        return list(config.get("Volumes") or {})

    def _attach(
        self,
        container: Any,
        runtime: ContainerRuntime,
        limits: SandboxLimits,
        allow: AllowList,
        restore: list[Callable[[], None]],
        host: HostSocket,
        grants: Grants,
        egress_cap: ConnectionCap,
    ) -> ContainerInstance | Violation:
        container.reload()
        pid = int(container.attrs["State"]["Pid"])
        logs = LogTail(
            container.logs(stream=True, follow=True), limits.output_bytes, container.kill
        )
        if pid == 0:
            return self._failed_start(container, logs, restore)
        started = Started(
            container=container,
            pid=pid,
            port=runtime.port,
            logs=logs,
            limits=limits,
            host=host.host,
            on_close=restore,
            caps=[host.cap, egress_cap],
            checks=host.checks,
            buckets=grants.storage_write,
        )
        instance = ContainerInstance(started)
        try:
            started.dialer = NetnsDialer(pid)
            started.cgroup = CgroupReader.for_pid(pid)
            if allow:
                listener = started.dialer.listen(PROXY_PORT)
                pins = grants.host.http.resolve
                started.proxy = EgressProxy(listener, allow, limits.network, pins, egress_cap)
            started.first = _wait_listening(started, START_TIMEOUT_S)
        except (OSError, SandboxError):
            if not _exits_soon(container):
                instance.close()
                raise
            started.first = None  # it exited before we could join it: a failed start
        except BaseException:
            instance.close()
            raise
        if started.first is None:
            violation = instance.start_failure(START_TIMEOUT_S)
            instance.close()
            return violation
        return instance

    def _failed_start(
        self, container: Any, logs: LogTail, restore: list[Callable[[], None]]
    ) -> Violation:
        container.reload()
        state = container.attrs["State"]
        logs.join(timeout=1.0)
        quiet(lambda: container.remove(force=True))
        run_all(restore)
        if state.get("OOMKilled"):
            return Violation(
                kind=ViolationKind.MEMORY,
                phase="instantiate",
                message="out of memory while starting; use less memory or raise limits.memory",
            )
        code = int(state.get("ExitCode", -1))
        tail = logs.text().strip().splitlines()[-1:] or ["(no output)"]
        return Violation(
            kind=ViolationKind.EXIT,
            phase="instantiate",
            exit_code=code,
            message=f"the module exited with status {code} while starting: {tail[0][:200]}",
        )

    def close(self) -> None:
        """Remove every container this backend started; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        self._pool.clear()
        while self._instances:
            self._instances.pop().close()
        # A Ctrl-C can land between the engine creating a container and an instance owning
        # it: remove whatever still carries this process's owner label.
        self._remove_owned()
        with contextlib.suppress(docker.errors.DockerException):
            self._client.close()

    def _remove_owned(self) -> None:
        with contextlib.suppress(docker.errors.DockerException):
            for container in self._client.containers.list(
                all=True, filters={"label": f"{OWNER}={self._owner}"}
            ):
                with contextlib.suppress(docker.errors.DockerException):
                    container.remove(force=True)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the engine creates a container.

    Interrupted mid-request, the client would never learn the container's id while the
    engine goes on to create it, after any cleanup has looked. Held, the signal arrives
    as soon as the request returns, and `close()` finds the container by its owner label.
    """
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _pool_key(package: ModulePackage, limits: SandboxLimits, grants: Grants) -> str:
    return f"{package.digest}|{limits.model_dump_json()}|{grants.model_dump_json()}"


def _exits_soon(container: Any) -> bool:
    """True when the container stops within 2 s (it was exiting while we attached)."""
    try:
        container.wait(timeout=2)
    except Exception:  # the SDK raises requests' ReadTimeout / ConnectionError
        return False
    return True


def _wait_listening(started: Started, limit_s: float) -> socket.socket | None:
    """Connect to the module's port until it answers, the process dies or `limit_s` passes."""
    deadline = time.monotonic() + limit_s
    assert started.dialer is not None  # noqa: S101 - set before the wait
    while time.monotonic() < deadline:
        try:
            return started.dialer.connect(started.port, timeout=1.0)
        except OSError:
            if not process_alive(started.pid):
                return None
            time.sleep(0.005)
    return None


def _invalid(message: str) -> Violation:
    return Violation(kind=ViolationKind.INVALID_MODULE, phase="load", message=message)


def _missing_image(image: str) -> str:
    return (
        f"runtime.image {image} is not in the Docker Engine; build it "
        "(`sandbench images build python` for sandbench/python:bookworm) or `docker pull` it"
    )
