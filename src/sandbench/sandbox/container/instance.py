"""One running container module: HTTP in through its namespace, counters from its cgroup.

See `Instance` for the contract. Requests go over a keep-alive HTTP/1.1 connection that
`NetnsDialer` opens inside the container (it has no other network). After each call the
cgroup counters say what the call used and whether it hit the memory, pids or CPU limit.
A call past the timeout kills the container; so does a flood of log output. After such a
violation every further call returns it again: the instance is spent, load a new one.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbench.hostapi import HostApi
from sandbench.hostapi.serve import ConnectionCap
from sandbench.sandbox.host import storage_violation, with_activity
from sandbench.sandbox.interface import (
    Closing,
    Outcome,
    Request,
    Response,
    SandboxLimits,
    Usage,
    Violation,
    ViolationKind,
)

from .cgroups import CgroupCounters, CgroupReader
from .deadline import DeadlineSocket
from .egress import Denial, EgressProxy
from .hostsock import HostCheck
from .netns import NetnsDialer

__all__ = ["ContainerInstance", "LogTail", "Started", "process_alive"]

_TAIL_BYTES = 16 * 1024


class LogTail:
    """Follows a container's log stream in a thread: counts bytes, keeps the tail.

    Past `limit` bytes it calls `on_flood` once (the instance kills the container).
    """

    def __init__(self, stream: Iterator[bytes], limit: int, on_flood: Callable[[], object]) -> None:
        self.total = 0
        self.flooded = False
        self._tail = b""
        self._limit = limit
        self._on_flood = on_flood
        self._stream = stream
        self._thread = threading.Thread(target=self._run, name="sandbench-logs", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # the stream ends with an error when removed
            for chunk in self._stream:
                self.total += len(chunk)
                self._tail = (self._tail + chunk)[-_TAIL_BYTES:]
                if self.total > self._limit and not self.flooded:
                    self.flooded = True
                    with contextlib.suppress(Exception):
                        self._on_flood()

    def text(self) -> str:
        """The last 16 KiB of the module's output, decoded leniently."""
        return self._tail.decode("utf-8", errors="replace")

    def join(self, timeout: float) -> None:
        """Wait for the stream to end (after the container stopped)."""
        self._thread.join(timeout)

    def close(self) -> None:
        """Close the stream's connection to the engine."""
        close = getattr(self._stream, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()
        self._thread.join(timeout=2.0)


@dataclass
class Started:
    """What the backend hands over: the live container and the machinery around it."""

    container: Any  # docker.models.containers.Container
    pid: int
    port: int
    logs: LogTail
    limits: SandboxLimits
    dialer: NetnsDialer | None = None
    cgroup: CgroupReader = field(default_factory=lambda: CgroupReader(""))
    proxy: EgressProxy | None = None
    host: HostApi | None = None  # served on the instance's socket; closed by `on_close`
    first: socket.socket | None = None
    on_close: list[Callable[[], None]] = field(default_factory=list)
    caps: list[ConnectionCap] = field(default_factory=list)  # host API, egress proxy
    checks: tuple[HostCheck, ...] = ()  # per-call limits on the host API (hostsock.py)
    buckets: Mapping[str, Path] = field(default_factory=dict)  # the writable ones, host side


class _Connection(http.client.HTTPConnection):
    """HTTPConnection whose socket comes from the container's namespace."""

    def __init__(self, started: Started) -> None:
        super().__init__("127.0.0.1", started.port)
        self._started = started
        self.bounded: DeadlineSocket | None = None

    def connect(self) -> None:
        first, self._started.first = self._started.first, None
        dialer = self._started.dialer
        if first is None and dialer is None:
            raise ConnectionRefusedError("the container has no network namespace")
        timeout = min(5.0, self.timeout or 5.0)
        sock = first or dialer.connect(self._started.port, timeout=timeout)  # type: ignore[union-attr]
        self.bounded = DeadlineSocket(sock)
        # http.client needs only what DeadlineSocket provides (sendall, makefile, close).
        self.sock = self.bounded

    def start(self, deadline: float) -> None:
        """Bound everything until the next `start` by `deadline` (connect included)."""
        self.timeout = max(0.001, deadline - time.monotonic())
        if self.sock is None or self.bounded is None:
            self.connect()
        assert self.bounded is not None  # noqa: S101 - connect() set it
        self.bounded.deadline = deadline


class ContainerInstance(Closing):
    """`Instance` for a container module. See `Instance` for the contract."""

    def __init__(self, started: Started) -> None:
        self._s = started
        self._conn = _Connection(started)
        self._spent: Violation | None = None
        self._closed = False
        self._lock = threading.Lock()
        # Refusals already reported, per cap (a module's instances share its caps).
        self._refused = {cap.name: cap.refused for cap in started.caps}

    @property
    def container(self) -> Any:
        """The engine's container object (`docker.models.containers.Container`)."""
        return self._s.container

    @property
    def denials(self) -> list[Denial]:
        """Every egress attempt the proxy refused, oldest first."""
        return self._s.proxy.denials if self._s.proxy else []

    @property
    def counters(self) -> CgroupCounters:
        """The container's cgroup counters now."""
        return self._s.cgroup.read()

    def invoke(self, request: Request) -> Outcome:
        """See `Instance.invoke`."""
        with self._lock:
            if self._spent is not None:
                return Outcome(violation=self._spent, stderr=self._s.logs.text())
            for check in self._s.checks:
                check.begin()
            host = self._s.host
            if host is None:
                return self._invoke(request)
            host.begin()
            # The module's host calls were recorded before it answered: all are in.
            return with_activity(self._invoke(request), host)

    def _invoke(self, request: Request) -> Outcome:
        limits = self._s.limits
        before = self._s.cgroup.read()
        denied = len(self.denials)
        start = time.perf_counter()
        response: Response | None = None
        failure: str | None = None
        try:
            response = self._send(request, limits.timeout_ms / 1000)
        except TimeoutError:
            failure = "timeout"
        except (OSError, http.client.HTTPException) as exc:
            failure = f"{type(exc).__name__}: {exc}"
        wall_ms = (time.perf_counter() - start) * 1000
        if failure is not None:
            self._conn.close()
        after = self._s.cgroup.read()
        usage = _usage(before, after, wall_ms, response)
        violation = self._violation(before, after, failure, response, denied)
        if violation is not None and violation.kind is ViolationKind.MEMORY:
            # An OOM kill happens at the limit; the cgroup may be gone before it is read.
            peak = max(usage.memory_bytes, limits.memory_bytes)
            usage = usage.model_copy(update={"memory_bytes": peak})
        if violation is not None and violation.kind is not ViolationKind.NETWORK_DENIED:
            self._spend(violation)
        # A refused host call is answered with its code and the module lives on, as after
        # a denied connection: the instance is not spent.
        violation = violation or next(filter(None, (c.violation() for c in self._s.checks)), None)
        # What it wrote into its writable buckets (bind mounts) counts against
        # limits.storage as for WASM; before, only /tmp's tmpfs was sized.
        over = None if violation else storage_violation(self._s.buckets, limits.storage_bytes)
        violation = violation or over
        return Outcome(
            response=None if failure or over else response,
            violation=violation,
            usage=usage,
            stderr=self._s.logs.text() if violation else "",
        )

    def _send(self, request: Request, timeout: float) -> Response:
        path = request.path + (f"?{request.query}" if request.query else "")
        headers = dict(request.headers)
        # One deadline over the whole exchange: connect, send, status line, headers, body.
        self._conn.start(time.monotonic() + timeout)
        self._conn.request(request.method, path, body=request.body or None, headers=headers)
        answer = self._conn.getresponse()
        body = answer.read(self._s.limits.output_bytes + 1)
        if len(body) > self._s.limits.output_bytes or answer.will_close:
            self._conn.close()
        return Response(status=answer.status, headers=tuple(answer.getheaders()), body=body)

    def _violation(
        self,
        before: CgroupCounters,
        after: CgroupCounters,
        failure: str | None,
        response: Response | None,
        denied: int,
    ) -> Violation | None:
        limits = self._s.limits
        if after.oom_kills > before.oom_kills or (failure and self._oom_killed()):
            return Violation(
                kind=ViolationKind.MEMORY,
                message=f"out of memory: the kernel killed a process at limits.memory "
                f"({limits.memory_bytes:,} bytes, no swap); use less memory or raise the limit",
            )
        if self._s.logs.flooded:
            return Violation(
                kind=ViolationKind.OUTPUT,
                message=f"wrote more than {limits.output_bytes:,} bytes of log output; "
                "the container was stopped. Log less",
            )
        if after.pids_max_events > before.pids_max_events:
            return Violation(
                kind=ViolationKind.PIDS,
                message="hit the process limit: fork/clone was refused "
                f"(pids limit {self._s.container.attrs['HostConfig'].get('PidsLimit')})",
            )
        if failure == "timeout":
            return self._timed_out(before, after)
        if failure is not None:
            return self._ended(failure)
        if response is not None and len(response.body) > limits.output_bytes:
            return Violation(
                kind=ViolationKind.OUTPUT,
                message=f"the response body is larger than {limits.output_bytes:,} bytes",
            )
        flooded = self._flooded()
        if flooded is not None:
            return flooded
        fresh = self.denials[denied:]
        if fresh:
            hosts = ", ".join(sorted({f"{d.host}:{d.port} ({d.reason})" for d in fresh}))
            return Violation(
                kind=ViolationKind.NETWORK_DENIED,
                message=f"egress denied to {hosts}; add api:external:HOST to the permissions "
                "or stay within limits.network",
            )
        return None

    def _flooded(self) -> Violation | None:
        """A connection cap refused some since the last call (or the start): say which."""
        parts = []
        for cap in self._s.caps:
            refused = cap.refused - self._refused.get(cap.name, 0)
            self._refused[cap.name] = cap.refused
            if refused > 0:
                parts.append(f"{refused} connection(s) to {cap.name} refused")
        if not parts:
            return None
        limit = self._s.caps[0].limit
        return Violation(
            kind=ViolationKind.NETWORK_DENIED,
            message=f"more than {limit} connections open at once: {'; '.join(parts)}; "
            "close connections you no longer use",
        )

    def _timed_out(self, before: CgroupCounters, after: CgroupCounters) -> Violation:
        self._kill()
        limits = self._s.limits
        throttled_ms = (after.throttled_ns - before.throttled_ns) / 1e6
        cpu_ms = (after.cpu_ns - before.cpu_ns) / 1e6
        # CPU-bound: throttled, and used at least half its share over the whole wait (a
        # sleeper that was throttled once while starting is a plain timeout).
        share_ms = limits.cpu_millicores / 1000 * limits.timeout_ms
        if after.throttled_periods > before.throttled_periods and cpu_ms >= share_ms / 2:
            return Violation(
                kind=ViolationKind.CPU,
                message=f"no answer within limits.timeout ({limits.timeout_ms} ms) while held "
                f"to limits.cpu ({limits.cpu_millicores}m): throttled for {throttled_ms:.0f} ms "
                f"in {after.throttled_periods - before.throttled_periods} periods; "
                "the container was killed",
            )
        return Violation(
            kind=ViolationKind.TIMEOUT,
            message=f"no answer within limits.timeout ({limits.timeout_ms} ms); "
            "the container was killed",
        )

    def start_failure(self, waited_s: float) -> Violation:
        """Why the module never listened: out of memory, exited, or too slow to start."""
        counters = self._s.cgroup.read()
        violation = self._violation(CgroupCounters(), counters, "start", None, 0)
        if violation is None or violation.kind is ViolationKind.PROTOCOL:
            violation = Violation(
                kind=ViolationKind.TIMEOUT,
                message=f"nothing listened on $PORT ({self._s.port}) within {waited_s:.0f} s "
                "of the start; serve HTTP on the port the PORT variable names",
            )
        return violation.model_copy(update={"phase": "instantiate"})

    def _ended(self, failure: str) -> Violation:
        state = self._state()
        if state.get("Running"):
            return Violation(
                kind=ViolationKind.PROTOCOL,
                message=f"the connection ended without an HTTP response ({failure})",
            )
        self._s.logs.join(timeout=1.0)
        code = int(state.get("ExitCode", -1))
        tail = self._s.logs.text().strip().splitlines()[-1:] or ["(no output)"]
        return Violation(
            kind=ViolationKind.EXIT,
            message=f"the module exited with status {code} instead of answering: {tail[0][:200]}",
            exit_code=code,
        )

    def _state(self) -> dict[str, Any]:
        """The engine's view of the container, once it has caught up with a dead process."""
        container = self._s.container
        try:
            if not process_alive(self._s.pid):
                # The engine reports the exit a moment after the kernel: wait for it.
                container.wait(timeout=5)
            container.reload()
        except Exception:
            return {}
        state: dict[str, Any] = container.attrs.get("State", {})
        return state

    def _oom_killed(self) -> bool:
        return bool(self._state().get("OOMKilled"))

    def _kill(self) -> None:
        with contextlib.suppress(Exception):
            self._s.container.kill()

    def _spend(self, violation: Violation) -> None:
        self._spent = violation
        self._conn.close()
        self._kill()

    def close(self) -> None:
        """Remove the container, stop the proxy and the host API; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        # A Ctrl-C can land in here (removing takes a while): the host folders still go.
        try:
            self._conn.close()
            if self._s.first is not None:
                self._s.first.close()
            if self._s.proxy is not None:
                self._s.proxy.close()
            with contextlib.suppress(Exception):
                self._s.container.remove(force=True)
            if self._s.dialer is not None:
                self._s.dialer.close()
            self._s.logs.close()
        finally:
            for callback in reversed(self._s.on_close):
                callback()


def process_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie has finished)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _usage(
    before: CgroupCounters, after: CgroupCounters, wall_ms: float, response: Response | None
) -> Usage:
    return Usage(
        wall_ms=wall_ms,
        cpu_ms=max(0, after.cpu_ns - before.cpu_ns) / 1e6,
        memory_bytes=after.memory_peak,
        output_bytes=len(response.body) if response else 0,
        throttled_ms=max(0, after.throttled_ns - before.throttled_ns) / 1e6,
    )
