"""The gateway's Prometheus metrics, under names the platform's alert rules already use.

    http_requests_total{module,status}                  counter, one per answered request
    http_request_duration_seconds_bucket{module,le}     histogram of time in the gateway
    module_load_failures_total{module}                  counter, one per failed (re)load
    module_memory_bytes{module}                         gauge, peak linear memory of the last call
    module_cpu_seconds_total{module}                    counter, CPU time spent in the module
    module_violations_total{module,kind}                counter, limit violations by kind

plus the serving process's own `process_*` metrics. Each gateway has its own registry, so
two gateways in one process (tests, benchmarks) never share counts.

Counting is on every request's path, so it is plain arithmetic on per-module tallies (a
dict increment and a bucket search: about 1 µs, where prometheus_client's labelled children
cost 10 µs with their locks); the tallies become metric families only when scraped. They
are updated from the event loop's thread only, so they need no lock.

With `sandbench serve --workers N` any worker may answer a scrape, so each one writes its
tallies to a shared folder every second when they changed (`publish`) and a scrape sums
its own with the others' files: counters count every worker's requests (the others' up to
a second late), `module_memory_bytes` is the largest of the workers' last calls, and
`process_*` are the answering worker's.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sandbench.sandbox import Outcome

__all__ = ["CONTENT_TYPE", "GatewayMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Buckets from 0.5 ms to 10 s: a WASM call is sub-millisecond, a stall is seconds.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass
class _Tally:
    """One module's counts since the gateway started."""

    requests: dict[int, int] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * (len(_BUCKETS) + 1))
    seconds: float = 0.0
    load_failures: int = 0
    memory: int | None = None
    cpu_s: float | None = None
    violations: dict[str, int] = field(default_factory=dict)

    def add(self, other: _Tally) -> None:
        """Fold in another worker's tally of the same module."""
        for status, count in other.requests.items():
            self.requests[status] = self.requests.get(status, 0) + count
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]
        self.seconds += other.seconds
        self.load_failures += other.load_failures
        if other.memory is not None:
            self.memory = max(self.memory or 0, other.memory)
        if other.cpu_s is not None:
            self.cpu_s = (self.cpu_s or 0.0) + other.cpu_s
        for kind, count in other.violations.items():
            self.violations[kind] = self.violations.get(kind, 0) + count

    def copy(self) -> _Tally:
        """A copy taken at once (plain dict and list copies do not release the GIL)."""
        return _Tally(dict(self.requests), list(self.buckets), self.seconds, self.load_failures,
                      self.memory, self.cpu_s, dict(self.violations))  # fmt: skip

    @classmethod
    def parse(cls, data: dict[str, object]) -> _Tally:
        """A tally from its JSON form (status codes come back as text)."""
        tally = cls(**data)  # type: ignore[arg-type]
        tally.requests = {int(k): v for k, v in tally.requests.items()}
        return tally


class GatewayMetrics:
    """The counters, histogram and gauges of one gateway, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        self._tallies: dict[str, _Tally] = {}
        self._peers: Path | None = None
        self._name = self._staged = self._file = ""
        self._published: list[tuple[str, int, int, float | None]] | None = None
        self.registry.register(self)

    def share(self, folder: Path, name: str) -> None:
        """Count with the other processes writing their tallies to `folder`, under `name`."""
        self._peers, self._name = folder, name
        # As text, made once: pathlib's joins cost more than the write itself.
        self._staged = str(folder / f".{name}.metrics.tmp")
        self._file = str(folder / f"{name}.metrics.json")

    def publish(self) -> bool:
        """Write this process's tallies for the others (atomically: a scrape never reads
        half a file), unless nothing was counted since the last write; return whether it
        wrote. Does nothing unless `share` was called; one thread at a time may call it.

        A worker publishes every second, loaded or idle: an idle one costs a comparison,
        and a write is one small JSON text (the tallies' fields, no dataclass walk).
        """
        if self._peers is None:
            return False
        tallies = [(module, t.copy()) for module, t in list(self._tallies.items())]
        # What every change moves: a request counted, a load failed, CPU spent unanswered.
        mark = [(m, sum(t.requests.values()), t.load_failures, t.cpu_s) for m, t in tallies]
        if mark == self._published:
            return False
        text = json.dumps({module: vars(t) for module, t in tallies}, separators=(",", ":"))
        fd = os.open(self._staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:  # without a file object: its buffer and codec cost more than the write
            data = memoryview(text.encode())
            while data:  # a regular file takes it all at once, unless the disk is full
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)
        os.replace(self._staged, self._file)
        self._published = mark
        return True

    def _merged(self) -> dict[str, _Tally]:
        merged = {module: tally.copy() for module, tally in list(self._tallies.items())}
        if self._peers is None:
            return merged
        for path in self._peers.glob("*.metrics.json"):
            if path.name == f"{self._name}.metrics.json":
                continue
            try:
                others = json.loads(path.read_text())
            except (OSError, ValueError):  # a worker that is gone or never wrote
                continue
            for module, data in others.items():
                merged.setdefault(module, _Tally()).add(_Tally.parse(data))
        return merged

    def _tally(self, module: str) -> _Tally:
        tally = self._tallies.get(module)
        if tally is None:
            tally = self._tallies[module] = _Tally()
        return tally

    def declare(self, modules: Iterable[str]) -> None:
        """Export `module_load_failures_total` as 0 for each of `modules` from the start, so that
        `rate()` and `increase()` see the first failure (a series born at 1 shows no increase)."""
        for module in modules:
            self._tally(module)

    def answered(self, module: str, status: int, seconds: float, outcome: Outcome | None) -> None:
        """Count one answered request, which took `seconds` in the gateway, and account
        what its call used and whether it broke a limit (`outcome`: None when the module
        made no call)."""
        tally = self._tallies.get(module) or self._tally(module)
        requests = tally.requests
        requests[status] = requests.get(status, 0) + 1
        tally.buckets[bisect_left(_BUCKETS, seconds)] += 1
        tally.seconds += seconds
        if outcome is None:
            return
        usage = outcome.usage
        tally.memory = usage.memory_bytes
        tally.cpu_s = (tally.cpu_s or 0.0) + usage.cpu_ms / 1000
        if outcome.violation is not None:
            kind = outcome.violation.kind.value
            tally.violations[kind] = tally.violations.get(kind, 0) + 1

    def load_failed(self, module: str) -> None:
        """Count one failed (re)load of `module`."""
        self._tally(module).load_failures += 1

    def spent(self, module: str, cpu_ms: float) -> None:
        """Account CPU a call used without answering (cut short and made again elsewhere)."""
        if cpu_ms:
            tally = self._tallies.get(module) or self._tally(module)
            tally.cpu_s = (tally.cpu_s or 0.0) + cpu_ms / 1000

    def exposition(self) -> bytes:
        """The metrics in Prometheus's text format."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        """The tallies as metric families (the registry calls this on each scrape)."""
        tallies = sorted(self._merged().items())
        by_module, by_status, by_kind = ("module",), ("module", "status"), ("module", "kind")
        requests = CounterMetricFamily(*_TEXT["requests"], labels=by_status)
        duration = HistogramMetricFamily(*_TEXT["duration"], labels=by_module)
        failures = CounterMetricFamily(*_TEXT["failures"], labels=by_module)
        memory = GaugeMetricFamily(*_TEXT["memory"], labels=by_module)
        cpu = CounterMetricFamily(*_TEXT["cpu"], labels=by_module)
        violations = CounterMetricFamily(*_TEXT["violations"], labels=by_kind)
        for module, tally in tallies:
            for status, count in sorted(tally.requests.items()):
                requests.add_metric((module, str(status)), count)
            if tally.requests:
                duration.add_metric((module,), _cumulative(tally.buckets), tally.seconds)
            failures.add_metric((module,), tally.load_failures)
            if tally.memory is not None:
                memory.add_metric((module,), tally.memory)
            if tally.cpu_s is not None:
                cpu.add_metric((module,), tally.cpu_s)
            for kind, count in sorted(tally.violations.items()):
                violations.add_metric((module, kind), count)
        yield from (requests, duration, failures, memory, cpu, violations)


# Each exported family's name and help text.
_TEXT = {
    "requests": ("http_requests", "HTTP requests answered, by module and status code."),
    "duration": ("http_request_duration_seconds", "Time from request to response in the gateway."),
    "failures": ("module_load_failures", "Module loads that failed (at start or on a reload)."),
    "memory": ("module_memory_bytes", "Peak linear memory of the module's last call."),
    "cpu": ("module_cpu_seconds", "CPU time spent running the module."),
    "violations": ("module_violations", "Calls that broke a limit or failed, by violation kind."),
}


def _cumulative(counts: list[int]) -> list[tuple[str, float]]:
    """Prometheus buckets (cumulative, `le` as text, +Inf last) from per-bucket counts."""
    pairs: list[tuple[str, float]] = []
    total = 0
    for bound, count in zip((*_BUCKETS, float("inf")), counts, strict=True):
        total += count
        pairs.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
    return pairs
