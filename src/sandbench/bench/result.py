"""Everything `sandbench bench` measured about one module, before any rendering."""

from __future__ import annotations

from pydantic import BaseModel, Field

from sandbench._camel import CAMEL

from .loadtest import LoadTestResult
from .measure import InvokeLatency, LoadDistribution
from .sampler import ResourceSample

__all__ = ["BenchResult"]


class BenchResult(BaseModel):
    """Load-time distributions, invoke latency, the HTTP load test and the serving process's
    resource use over time. A measurement that could not be taken is in `skipped`."""

    model_config = CAMEL

    module_id: str
    version: str
    backend: str
    instances: int = Field(description="live instances the gateway kept for the module")
    loads: LoadDistribution
    invoke: InvokeLatency | None = None
    load_test: LoadTestResult | None = None
    server: list[ResourceSample] = Field(
        default_factory=list, description="the serving process during the load test"
    )
    containers: list[ResourceSample] = Field(
        default_factory=list,
        description="a container module's containers during the load test (cgroup counters; "
        "rssBytes is their memory in use)",
    )
    skipped: dict[str, str] = Field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when the load test ran and every threshold held."""
        return self.load_test is not None and self.load_test.passed
