"""What one cell of a nightly run produced, as stored in the history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from sandbench._camel import CAMEL

__all__ = ["CellResult", "CellStatus", "StoredFinding"]


class CellStatus(StrEnum):
    """A cell's outcome: the report's status, or why there is no report."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    CRITICAL = "critical"
    ERROR = "error"  # the module or its input could not be checked (bad manifest, bad archive)
    TIMEOUT = "timeout"  # the cell ran past cell_timeout and its worker was killed
    CRASHED = "crashed"  # the worker process died

    @property
    def rank(self) -> int:
        """0 healthy, 1 degraded, 2 critical, 3 for every way of producing no report."""
        return min(list(CellStatus).index(self), 3)


class StoredFinding(BaseModel):
    """A scanner finding, by its stable fingerprint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fingerprint: str
    rule: str
    severity: str
    message: str


class CellResult(BaseModel):
    """One module in one matrix cell on one night: status, samples, findings, the report."""

    model_config = CAMEL

    run_id: str
    module: str
    digest: str
    cell: str
    module_id: str = ""
    version: str = ""
    status: CellStatus
    message: str = ""
    elapsed_ms: float
    samples: dict[str, list[float]] = Field(
        default_factory=dict, description="metric -> every sample, e.g. health.latency_ms"
    )
    findings: list[StoredFinding] = Field(default_factory=list)
    report: str | None = Field(default=None, description="the health report's JSON")
    recorded_at: datetime
