"""Nightly compatibility runs: config, matrix, worker-per-cell runner, history, regressions, dashboard, shards."""

from __future__ import annotations

from .config import ModuleRef, NightlyConfig, load_config
from .matrix import Cell, Shard, cells, parse_shard
from .models import CellResult, CellStatus, StoredFinding
from .regress import (
    Judgement,
    Regression,
    Thresholds,
    detect,
    judge_series,
    judged_metrics,
    night_value,
)
from .runner import RunSummary, Worker, plan, run
from .store import HistoryStore, SqlStore, open_store

__all__ = [
    "Cell",
    "CellResult",
    "CellStatus",
    "HistoryStore",
    "Judgement",
    "ModuleRef",
    "NightlyConfig",
    "Regression",
    "RunSummary",
    "Shard",
    "SqlStore",
    "StoredFinding",
    "Thresholds",
    "Worker",
    "cells",
    "detect",
    "judge_series",
    "judged_metrics",
    "load_config",
    "night_value",
    "open_store",
    "parse_shard",
    "plan",
    "run",
]
