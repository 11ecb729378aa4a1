"""What one cell of a nightly run produced, as stored in the history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sandbench._camel import CAMEL

from .stats import Shift

__all__ = ["CPU", "LATENCY", "CellResult", "CellStatus", "Pairing", "StoredFinding"]

LATENCY = "health.latency_ms"  # wall clock per health call
CPU = "health.cpu_ms"  # CPU time per health call, as the sandbox measured it


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


class Pairing(BaseModel):
    """How a paired night was measured: its unit, how many, and why it stopped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit: Literal["block", "round"]
    pairs: int = Field(description="blocks (or rounds) the night's interval is over")
    calls: int = Field(description="calls per side in a block (in a round for rounds)")
    stopped: str = Field(
        description="precise (the interval reached `precision`), blocks or rounds (the "
        "count cap), seconds (`cell_budget`), failed (a side failed: no pairs)"
    )
    seconds: float = 0.0
    cpu: str = Field(default="", description="what a block's CPU value is, for the report")
    failure: str = Field(default="", description="stopped=failed: which side, what happened")


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
    primary: str = Field(
        default="",
        description="the metric performance alarms are judged on (health.cpu_ms for a WASM "
        "cell, health.latency_ms otherwise); empty in histories before it: every metric",
    )
    intervals: dict[str, Shift] = Field(
        default_factory=dict,
        description="metric -> the night's candidate/baseline ratio with its 95 % interval "
        "(paired cells only)",
    )
    round_medians: dict[str, list[tuple[float, float]]] = Field(
        default_factory=dict,
        description="metric -> per round (or per block of alternated calls), the median of "
        "the candidate's calls and of the baseline's beside them (paired cells only)",
    )
    pairing: Pairing | None = Field(
        default=None, description="how the night was paired; None unpaired or older rows"
    )
