"""Evidence builders shared by the report tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sandbench.bench import LoadTimes, ProbeResult, summarize
from sandbench.manifests import HealthExpect
from sandbench.reports import Evidence
from sandbench.runtime import AppliedLimits
from sandbench.sandbox import Outcome, Request, Response, SandboxLimits, Usage

DIGEST = "ab" * 32
WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def answer(status: int = 200, wall_ms: float = 1.0, body: bytes = b"ok") -> Outcome:
    return Outcome(
        response=Response(status=status, body=body),
        usage=Usage(wall_ms=wall_ms, cpu_ms=wall_ms / 2, memory_bytes=65536, fuel=10),
    )


def make_evidence(outcomes: tuple[Outcome, ...] | None = None, **changes: Any) -> Evidence:
    outcomes = (answer(),) * 5 if outcomes is None else outcomes
    fields: dict[str, Any] = {
        "module_id": "@t/m",
        "version": "1.2.3",
        "digest": DIGEST,
        "declared_signature": f"SHA256:{DIGEST}",
        "applied": AppliedLimits(limits=SandboxLimits()),
        "backend": "wasmtime 50.0.1",
        "tool_version": "0.1.0",
        "load": LoadTimes(
            cold_ms=12.5, compile_ms=11.0, warm=summarize([0.5, 0.6]), cache_hit=True
        ),
        "dependencies": {"wasi_snapshot_preview1": True},
        "request": Request(),
        "expect": HealthExpect(),
        "probe": ProbeResult(
            outcomes=outcomes, latency_ms=summarize([o.usage.wall_ms for o in outcomes])
        )
        if outcomes
        else None,
        "checked_at": WHEN,
    }
    fields.update(changes)
    return Evidence(**fields)


@pytest.fixture
def evidence():
    return make_evidence
