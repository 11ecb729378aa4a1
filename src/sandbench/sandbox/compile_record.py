"""The cold-compile figure kept beside a cached artifact.

Compiling a Python component takes 7-30 s; measuring that on every `check` made the
developer's loop slow. So the compile is timed once, when the artifact is compiled, and the
figure is written next to it (`<artifact>.compile.json`: `compile_ms`, the engine, when).
A later load from the cache reports that figure as the cold load. `--cold` (a `fresh` load)
compiles again and rewrites it.

The record is only a number for the report, never trusted code: a missing, unreadable or
malformed record, or one written by another engine, reads as None and the caller measures
afresh.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from sandbench._camel import CAMEL

__all__ = ["CompileRecord", "read_record", "record_path", "write_record"]


class CompileRecord(BaseModel):
    """One measured compile of an artifact."""

    model_config = CAMEL

    compile_ms: float
    engine: str
    measured_at: datetime


def record_path(artifact: Path) -> Path:
    """Where the record of the artifact at `artifact` lives."""
    return artifact.with_name(f"{artifact.name}.compile.json")


def read_record(artifact: Path, engine: str) -> CompileRecord | None:
    """The record beside `artifact` if it is readable and was made by `engine`, else None."""
    try:
        record = CompileRecord.model_validate_json(record_path(artifact).read_bytes())
    except (OSError, ValidationError):
        return None
    return record if record.engine == engine else None


def write_record(artifact: Path, compile_ms: float, engine: str) -> CompileRecord:
    """Record a compile of `compile_ms` by `engine`, now; return the record.

    Written to a temporary file and renamed into place. A failure to write is not fatal:
    the next load simply measures again.
    """
    record = CompileRecord(compile_ms=compile_ms, engine=engine, measured_at=datetime.now(UTC))
    with contextlib.suppress(OSError):
        fd, tmp = tempfile.mkstemp(dir=artifact.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(record.model_dump_json())
            os.replace(tmp, record_path(artifact))
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return record
