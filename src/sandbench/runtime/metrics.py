"""The gateway's Prometheus metrics, under names the platform's alert rules already use.

    http_requests_total{module,status}                  counter, one per answered request
    http_request_duration_seconds_bucket{module,le}     histogram of time in the gateway
    module_load_failures_total{module}                  counter, one per failed (re)load
    module_memory_bytes{module}                         gauge, peak linear memory of the last call
    module_cpu_seconds_total{module}                    counter, CPU time spent in the module
    module_violations_total{module,kind}                counter, limit violations by kind

plus the serving process's own `process_*` metrics. Each gateway has its own registry, so
two gateways in one process (tests, benchmarks) never share counts.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sandbench.sandbox import Outcome

__all__ = ["CONTENT_TYPE", "GatewayMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Buckets from 0.5 ms to 10 s: a WASM call is sub-millisecond, a stall is seconds.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class GatewayMetrics:
    """The counters, histogram and gauges of one gateway, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "http_requests", "HTTP requests answered, by module and status code.",
            ("module", "status"), registry=self.registry,
        )  # fmt: skip
        self.duration = Histogram(
            "http_request_duration_seconds", "Time from request to response in the gateway.",
            ("module",), buckets=_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.load_failures = Counter(
            "module_load_failures", "Module loads that failed (at start or on a reload).",
            ("module",), registry=self.registry,
        )  # fmt: skip
        self.memory = Gauge(
            "module_memory_bytes", "Peak linear memory of the module's last call.",
            ("module",), registry=self.registry,
        )  # fmt: skip
        self.cpu = Counter(
            "module_cpu_seconds", "CPU time spent running the module.",
            ("module",), registry=self.registry,
        )  # fmt: skip
        self.violations = Counter(
            "module_violations", "Calls that broke a limit or failed, by violation kind.",
            ("module", "kind"), registry=self.registry,
        )  # fmt: skip

    def declare(self, modules: Iterable[str]) -> None:
        """Export `module_load_failures_total` as 0 for each of `modules` from the start, so that
        `rate()` and `increase()` see the first failure (a series born at 1 shows no increase)."""
        for module in modules:
            self.load_failures.labels(module=module)

    def observe(self, module: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(module=module, status=str(status)).inc()
        self.duration.labels(module=module).observe(seconds)

    def record(self, module: str, outcome: Outcome) -> None:
        """Account what one call used and whether it broke a limit."""
        self.memory.labels(module=module).set(outcome.usage.memory_bytes)
        self.cpu.labels(module=module).inc(outcome.usage.cpu_ms / 1000)
        if outcome.violation is not None:
            self.violations.labels(module=module, kind=outcome.violation.kind.value).inc()

    def exposition(self) -> bytes:
        """The metrics in Prometheus's text format."""
        return generate_latest(self.registry)
