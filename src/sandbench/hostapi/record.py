"""The evidence host calls leave behind: every call, allowed or denied, and the log lines.

A `Recorder` is per module instance and per invocation: the sandbox drains it after each
call into the `Outcome`. It keeps at most `MAX_CALLS` calls and counts the rest, so a
module that loops on a denied call cannot grow the host's memory.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from sandbench._construct import made

from .codes import Code

__all__ = ["MAX_CALLS", "Activity", "HostCall", "LogLine", "Recorder"]

MAX_CALLS = 256
_LABELS = {code: code.label for code in Code}  # `label` builds its string at every read
_FROZEN = ConfigDict(extra="forbid", frozen=True)


class HostCall(BaseModel):
    """One host call: which capability, on what target, and how it ended."""

    model_config = _FROZEN

    capability: str = Field(description="http | storage | database | log")
    action: str = Field(description="fetch, read, write, list, query, execute, log")
    target: str = Field(description="the host, bucket/key or schema the call was about")
    code: str = Field(description="ok, or the error code's label (denied, quota, ...)")
    at: datetime
    detail: str = ""

    @property
    def denied(self) -> bool:
        """True when a permission or a limit refused the call."""
        return self.code in (Code.DENIED.label, Code.RATE.label, Code.QUOTA.label)


class LogLine(BaseModel):
    """One structured log line a module wrote through the `log` capability."""

    model_config = _FROZEN

    level: str
    message: str
    fields: dict[str, object] = Field(default_factory=dict)
    at: datetime


class Activity(BaseModel):
    """What one invocation did through the host API."""

    model_config = _FROZEN

    calls: tuple[HostCall, ...] = ()
    dropped_calls: int = 0
    logs: tuple[LogLine, ...] = ()
    dropped_log_bytes: int = 0

    @property
    def denied(self) -> tuple[HostCall, ...]:
        """The calls a permission or a limit refused."""
        return tuple(call for call in self.calls if call.denied)


class Recorder:
    """Collects host calls and log lines until `drain()`; safe to use from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[tuple[str, str, str, Code, str, float]] = []
        self._dropped = 0
        self._logs: list[LogLine] = []
        self._dropped_log_bytes = 0

    def call(self, capability: str, action: str, target: str, code: Code, detail: str = "") -> Code:
        """Record one call and return its code (so a capability can `return rec.call(...)`)."""
        # A plain tuple on the hot path; the model is built once, in `drain()`.
        entry = (capability, action, target, code, detail, time.time())
        with self._lock:
            if len(self._calls) < MAX_CALLS:
                self._calls.append(entry)
            else:
                self._dropped += 1
        return code

    def log(self, line: LogLine) -> None:
        """Keep a log line (the log capability has already capped its size)."""
        with self._lock:
            self._logs.append(line)

    def drop_log(self, size: int) -> None:
        """Count log bytes that were over a cap and not kept."""
        with self._lock:
            self._dropped_log_bytes += size

    def drain(self) -> Activity:
        """Everything recorded since the last drain; the recorder starts empty again."""
        with self._lock:
            calls, logs = self._calls, self._logs
            dropped, dropped_log_bytes = self._dropped, self._dropped_log_bytes
            self._calls, self._logs = [], []
            self._dropped = self._dropped_log_bytes = 0
        if not (calls or logs or dropped or dropped_log_bytes):
            return _NOTHING  # most invocations: no model to build
        rows = [
            made(
                HostCall,
                {
                    "capability": capability,
                    "action": action,
                    "target": target[:300],
                    "code": _LABELS[code],
                    "at": datetime.fromtimestamp(at, UTC),
                    "detail": detail[:300],
                },
            )
            for capability, action, target, code, detail, at in calls
        ]
        return made(
            Activity,
            {
                "calls": tuple(rows),
                "dropped_calls": dropped,
                "logs": tuple(logs),
                "dropped_log_bytes": dropped_log_bytes,
            },
        )


_NOTHING = Activity()
