"""A CPU quota for the processes a benchmark starts: a cgroup of their own whose CPU
controller lets them run `share` of one core per period, whatever cores they may use.

A server under a quota saturates at the same CPU allowance whatever else the machine
runs, as long as its core has that share free: two servers each under the same quota and
both throttled were both server-bound on the same CPU, so their rates compare capacities.

cgroup v1 (a `cpu` hierarchy: `cpu.cfs_quota_us` of `cpu.cfs_period_us`) and cgroup v2
(`cpu.max`, in a cgroup whose parent has the `cpu` controller enabled for its children)
are both handled. Where neither is writable (not root, a read-only cgroupfs, a v2 parent
with processes of its own) `cpu_quota` yields None and the reason: the caller measures
without a quota.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

_PERIOD_US = 100_000
_GONE_S = 5.0  # for leftover processes to die before the cgroup is removed


class CpuQuota:
    """One cgroup (already created, quota set); `add` moves processes in, `throttling`
    reads what the quota cost them, `remove` kills what is left in it and deletes it."""

    def __init__(self, path: Path, version: int, share: float) -> None:
        self.path, self.version, self.share = path, version, share
        self.period_s = _PERIOD_US / 1e6

    def add(self, pid: int) -> None:
        """Move process `pid` (all its threads; what it starts later inherits) in.
        Raises OSError when the process is gone or the cgroup refuses it."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> set[int]:
        """The processes in the cgroup now."""
        return {int(line) for line in (self.path / "cgroup.procs").read_text().split()}

    def throttling(self) -> tuple[int, int, float]:
        """(periods the cgroup had work in, periods it used up its quota in, seconds its
        processes waited for the next period), so far."""
        stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        waited = (int(stat["throttled_time"]) / 1e9 if self.version == 1
                  else int(stat["throttled_usec"]) / 1e6)  # fmt: skip
        return int(stat["nr_periods"]), int(stat["nr_throttled"]), waited

    def remove(self) -> None:
        """Kill the processes left in the cgroup (the benchmark started them all), wait for
        them to go, delete the cgroup. Raises OSError when it could not be deleted."""
        deadline = time.monotonic() + _GONE_S
        while True:
            with contextlib.suppress(OSError):
                for pid in self.pids():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            try:
                self.path.rmdir()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def _v1_parent() -> Path | None:
    """The v1 `cpu` hierarchy's cgroup this process is in, when mounted."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    for line in mounts:
        _, point, kind, options, *_ = line.split()
        if kind == "cgroup" and "cpu" in options.split(","):
            for entry in Path("/proc/self/cgroup").read_text().splitlines():
                _, controllers, own = entry.split(":", 2)
                if "cpu" in controllers.split(","):
                    return Path(point) / own.lstrip("/")
    return None


def _v2_parent() -> Path | None:
    """The v2 cgroup this process is in, when the unified hierarchy holds the `cpu`
    controller."""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, point, kind, *_ = line.split()
        if kind == "cgroup2" and "cpu" in (Path(point) / "cgroup.controllers").read_text().split():
            for entry in Path("/proc/self/cgroup").read_text().splitlines():
                if entry.startswith("0::"):
                    return Path(point) / entry[3:].lstrip("/")
    return None


def _create(share: float, name: str) -> CpuQuota:
    """The cgroup `name` under this process's own, limited to `share` of a core.
    Raises OSError (with the reason) when no cgroup can be made or limited."""
    quota = str(max(1000, round(share * _PERIOD_US)))
    parent = _v1_parent()
    if parent is not None:
        path = parent / name
        path.mkdir()
        try:
            (path / "cpu.cfs_period_us").write_text(str(_PERIOD_US))
            (path / "cpu.cfs_quota_us").write_text(quota)
        except OSError:
            path.rmdir()
            raise
        return CpuQuota(path, 1, share)
    parent = _v2_parent()
    if parent is None:
        raise OSError("no cgroup cpu controller is mounted")
    if "cpu" not in (parent / "cgroup.subtree_control").read_text().split():
        # Refused (EBUSY) when the parent holds processes and is not the root.
        (parent / "cgroup.subtree_control").write_text("+cpu")
    path = parent / name
    path.mkdir()
    try:
        (path / "cpu.max").write_text(f"{quota} {_PERIOD_US}")
    except OSError:
        path.rmdir()
        raise
    return CpuQuota(path, 2, share)


@contextlib.contextmanager
def cpu_quota(share: float, label: str) -> Iterator[tuple[CpuQuota | None, str]]:
    """A fresh cgroup limited to `share` of a core for the block, and "" ; or None and why
    there is none (no writable cgroup CPU controller). The cgroup is removed at the end,
    the block failing or not, and anything still in it killed first."""
    try:
        quota = _create(share, f"sandbench-bench-{label}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    except (OSError, ValueError) as error:
        yield None, f"no CPU quota could be set ({error})"
        return
    try:
        yield quota, ""
    finally:
        quota.remove()
