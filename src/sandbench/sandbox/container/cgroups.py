"""A container's resource counters, read from its cgroup files (cgroup v1 and v2).

| counter | v1 | v2 |
|---|---|---|
| peak memory | `memory/memory.max_usage_in_bytes` | `memory.peak` (Linux 5.19+), else `memory.current` |
| CPU time | `cpuacct/cpuacct.usage` (ns) | `cpu.stat` `usage_usec` |
| throttling | `cpu/cpu.stat` `nr_throttled`, `throttled_time` (ns) | `cpu.stat` `nr_throttled`, `throttled_usec` |
| pids limit hit | `pids/pids.events` `max` | `pids.events` `max` |
| OOM kills | `memory/memory.oom_control` `oom_kill` | `memory.events` `oom_kill` |
| memory now | `memory/memory.usage_in_bytes` | `memory.current` |

The paths come from `/proc/PID/cgroup` of the container's first process, so they hold for
any cgroup driver. A counter that cannot be read (the cgroup is gone once the container
exits) reads as the last value seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CgroupCounters", "CgroupReader"]


@dataclass(frozen=True)
class CgroupCounters:
    """One reading of a container's counters."""

    memory_peak: int = 0
    cpu_ns: int = 0
    throttled_periods: int = 0
    throttled_ns: int = 0
    pids_max_events: int = 0
    oom_kills: int = 0
    memory_current: int = 0


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _read_keyed(path: Path) -> dict[str, int]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    pairs = (line.split() for line in lines)
    return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].isdigit()}


class CgroupReader:
    """Reads the counters of the cgroup(s) `/proc/PID/cgroup` names, under `mount`."""

    def __init__(self, membership: str, mount: Path = Path("/sys/fs/cgroup")) -> None:
        self._v1: dict[str, Path] = {}
        self._v2: Path | None = None
        for line in membership.splitlines():
            hierarchy, _, rest = line.partition(":")
            controllers, _, path = rest.partition(":")
            relative = path.lstrip("/")
            if hierarchy == "0" and controllers == "":
                unified = mount / "unified" if (mount / "unified").is_dir() else mount
                self._v2 = unified / relative
            for controller in controllers.split(","):
                if controller:
                    self._v1[controller] = mount / controller / relative
        self._last = CgroupCounters()

    @classmethod
    def for_pid(cls, pid: int, mount: Path = Path("/sys/fs/cgroup")) -> CgroupReader:
        """The reader for process `pid`'s cgroups. Raises `OSError` if it is gone."""
        return cls(Path(f"/proc/{pid}/cgroup").read_text(), mount)

    @property
    def version(self) -> int:
        """1 when the memory controller is on a v1 hierarchy, else 2."""
        return 1 if "memory" in self._v1 else 2

    def read(self) -> CgroupCounters:
        """The counters now (missing ones keep their last value)."""
        now = self._read_v1() if self.version == 1 else self._read_v2()
        last = self._last
        merged = CgroupCounters(
            *(
                new if new is not None else old
                for new, old in zip(now, _as_tuple(last), strict=True)
            )
        )
        self._last = merged
        return merged

    def _read_v1(self) -> tuple[int | None, ...]:
        memory = self._v1.get("memory")
        cpuacct = self._v1.get("cpuacct")
        cpu = self._v1.get("cpu")
        pids = self._v1.get("pids")
        stat = _read_keyed(cpu / "cpu.stat") if cpu else {}
        events = _read_keyed(pids / "pids.events") if pids else {}
        return (
            _read_int(memory / "memory.max_usage_in_bytes") if memory else None,
            _read_int(cpuacct / "cpuacct.usage") if cpuacct else None,
            stat.get("nr_throttled"),
            stat.get("throttled_time"),
            events.get("max"),
            _read_keyed(memory / "memory.oom_control").get("oom_kill") if memory else None,
            _read_int(memory / "memory.usage_in_bytes") if memory else None,
        )

    def _read_v2(self) -> tuple[int | None, ...]:
        base = self._v2
        if base is None:
            return (None,) * 7
        peak = _read_int(base / "memory.peak")
        if peak is None:
            peak = _read_int(base / "memory.current")
        stat = _read_keyed(base / "cpu.stat")
        events = _read_keyed(base / "pids.events")
        usage = stat.get("usage_usec")
        throttled = stat.get("throttled_usec")
        return (
            peak,
            None if usage is None else usage * 1000,
            stat.get("nr_throttled"),
            None if throttled is None else throttled * 1000,
            events.get("max"),
            _read_keyed(base / "memory.events").get("oom_kill"),
            _read_int(base / "memory.current"),
        )


def _as_tuple(counters: CgroupCounters) -> tuple[int, ...]:
    return (
        counters.memory_peak,
        counters.cpu_ns,
        counters.throttled_periods,
        counters.throttled_ns,
        counters.pids_max_events,
        counters.oom_kills,
        counters.memory_current,
    )
