"""Resource sampling over time: CPU and memory of processes, read with psutil on a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import psutil
from pydantic import BaseModel

from sandbench._camel import CAMEL
from sandbench.sandbox import Closing

__all__ = ["CgroupSampler", "ResourceSample", "Sampler"]


class ResourceSample(BaseModel):
    """One reading: seconds since start, CPU (% of one core, summed and of the busiest
    process), RSS bytes, and the whole machine's CPU (% of all cores)."""

    model_config = CAMEL

    t: float
    cpu_percent: float
    rss_bytes: int
    machine_cpu_percent: float
    busiest_percent: float = 0.0


class _Periodic(Closing):
    """Takes `_read()` every `interval_s` on a thread until closed (or `max_samples`)."""

    def __init__(self, interval_s: float, max_samples: int, name: str) -> None:
        self.samples: list[ResourceSample] = []
        self._interval = interval_s
        self._max = max_samples
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _read(self) -> ResourceSample:
        raise NotImplementedError  # pragma: no cover

    def _run(self) -> None:
        while not self._stop.wait(self._interval) and len(self.samples) < self._max:
            self.samples.append(self._read())

    def close(self) -> None:
        """Stop sampling, with one last reading the first time. Closing twice is harmless."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        if len(self.samples) < self._max:
            self.samples.append(self._read())


class Sampler(_Periodic):
    """Samples the processes `pids` (and their children, unless `children=False`) every `interval_s` until closed.

    CPU is summed over the processes, in percent of one core (200 = two cores busy);
    `machine_cpu_percent` is the whole machine's, in percent of all its cores. A process
    that exits is dropped from later samples. Samples stop after `max_samples`.
    """

    def __init__(
        self,
        pids: Sequence[int],
        interval_s: float = 0.25,
        max_samples: int = 14_400,
        *,
        children: bool = True,
    ) -> None:
        super().__init__(interval_s, max_samples, "sandbench-sampler")
        self._children = children
        self._roots = [psutil.Process(pid) for pid in pids]
        self._known: dict[int, psutil.Process] = {}
        psutil.cpu_percent(None)
        self._processes()
        self._thread.start()

    def _processes(self) -> list[psutil.Process]:
        found: list[psutil.Process] = []
        for root in self._roots:
            try:
                found += [root, *(root.children(recursive=True) if self._children else [])]
            except psutil.Error:
                continue
        for process in found:
            if process.pid not in self._known:
                self._known[process.pid] = process
                try:
                    process.cpu_percent(None)  # the first reading only starts the clock
                except psutil.Error:
                    continue
        return [self._known[p.pid] for p in found]

    def _read(self) -> ResourceSample:
        cpu = busiest = 0.0
        rss = 0
        for process in self._processes():
            try:
                with process.oneshot():
                    used = process.cpu_percent(None)
                    rss += process.memory_info().rss
            except psutil.Error:
                continue
            cpu += used
            busiest = max(busiest, used)
        elapsed = time.monotonic() - self._start
        return ResourceSample(
            t=elapsed,
            cpu_percent=cpu,
            rss_bytes=rss,
            machine_cpu_percent=psutil.cpu_percent(None),
            busiest_percent=busiest,
        )


class CgroupUsage(Protocol):
    """What a container instance's `counters` give (sandbench.sandbox.container)."""

    @property
    def cpu_ns(self) -> int: ...  # pragma: no cover

    @property
    def memory_current(self) -> int: ...  # pragma: no cover


class CgroupSampler(_Periodic):
    """Samples the cgroup counters of the container instances `live()` returns.

    CPU is the containers' CPU time over the interval, in percent of one core, summed
    (`busiest_percent`: the busiest container); memory is their memory in use, summed.
    """

    def __init__(
        self,
        live: Callable[[], Sequence[object]],
        interval_s: float = 0.25,
        max_samples: int = 14_400,
    ) -> None:
        super().__init__(interval_s, max_samples, "sandbench-cgroups")
        self._live = live
        self._last: dict[int, tuple[float, int]] = {}
        psutil.cpu_percent(None)
        self._thread.start()

    def _read(self) -> ResourceSample:
        now = time.monotonic()
        cpu = busiest = 0.0
        memory = 0
        for instance in self._live():
            counters: CgroupUsage | None = getattr(instance, "counters", None)
            if counters is None:
                continue
            memory += counters.memory_current
            before = self._last.get(id(instance))
            self._last[id(instance)] = (now, counters.cpu_ns)
            if before is not None and now > before[0]:
                used = (counters.cpu_ns - before[1]) / 1e9 / (now - before[0]) * 100
                cpu += used
                busiest = max(busiest, used)
        return ResourceSample(
            t=now - self._start,
            cpu_percent=cpu,
            rss_bytes=memory,
            machine_cpu_percent=psutil.cpu_percent(None),
            busiest_percent=busiest,
        )
