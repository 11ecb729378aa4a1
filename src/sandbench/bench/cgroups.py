"""cgroup counters: memory in use and CPU time consumed by a control group (a container).

Reads cgroup v2 (`memory.current`, `cpu.stat` `usage_usec`) or v1 (`memory.usage_in_bytes`
under the memory controller, `cpuacct.usage` under cpuacct). The container backend gives
the directories of its container's cgroup (for Docker on cgroup v1:
`/sys/fs/cgroup/memory/docker/ID` and `/sys/fs/cgroup/cpuacct/docker/ID`); a reading that
cannot be taken raises `BenchError` naming the file.
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from sandbench.errors import BenchError

__all__ = ["CgroupCounters", "CgroupReading", "cgroup_dirs"]


class CgroupReading(BaseModel):
    """One reading: monotonic seconds, memory in use (bytes), CPU consumed so far (ns)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    t: float
    memory_bytes: int
    cpu_ns: int


def cgroup_dirs(root: Path, relative: str) -> tuple[Path, Path]:
    """The memory and CPU directories of cgroup `relative` under the hierarchy at `root`.

    With cgroup v2 (a `cgroup.controllers` file at `root`) both are `root/relative`; with
    v1 they are under the `memory` and `cpuacct` controllers.
    """
    relative = relative.strip("/")
    if (root / "cgroup.controllers").is_file():
        unified = root / relative
        return unified, unified
    return root / "memory" / relative, root / "cpuacct" / relative


class CgroupCounters:
    """Reads the counters of one cgroup, given its memory and CPU directories."""

    def __init__(self, memory_dir: Path, cpu_dir: Path) -> None:
        self._v2 = (memory_dir / "memory.current").is_file()
        self._memory = memory_dir / ("memory.current" if self._v2 else "memory.usage_in_bytes")
        self._cpu = cpu_dir / ("cpu.stat" if self._v2 else "cpuacct.usage")

    def read(self) -> CgroupReading:
        """Take one reading; raises `BenchError` when a counter file cannot be read."""
        memory = int(self._text(self._memory))
        text = self._text(self._cpu)
        if self._v2:
            fields = dict(line.split() for line in text.splitlines() if line.strip())
            if "usage_usec" not in fields:
                raise BenchError(f"{self._cpu}: no usage_usec line")
            cpu_ns = int(fields["usage_usec"]) * 1000
        else:
            cpu_ns = int(text)
        return CgroupReading(t=time.monotonic(), memory_bytes=memory, cpu_ns=cpu_ns)

    @staticmethod
    def _text(path: Path) -> str:
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise BenchError(f"{path}: cannot read the cgroup counter ({exc.strerror})") from None

    @staticmethod
    def cpu_percent(first: CgroupReading, last: CgroupReading) -> float:
        """CPU used between two readings, in percent of one core."""
        elapsed = last.t - first.t
        return 0.0 if elapsed <= 0 else (last.cpu_ns - first.cpu_ns) / 1e9 / elapsed * 100
