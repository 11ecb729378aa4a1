"""The `log` capability: structured lines, size-capped, collected into the report.

Every module may log; no permission is needed. A line is plain text, or a JSON object
whose `message` (or `msg`) key is the text and whose other keys are kept as fields. A
line over `LINE_CAP` bytes is cut; once an invocation has logged `TOTAL_CAP` bytes, further
lines are dropped and counted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sandbench._construct import made

from .codes import Code, HostResult
from .record import LogLine, Recorder

__all__ = ["LEVELS", "LINE_CAP", "TOTAL_CAP", "Log"]

LINE_CAP = 4 * 1024
TOTAL_CAP = 64 * 1024
LEVELS = ("debug", "info", "warn", "error")


class Log:
    """See the module docstring. `reset()` starts a new invocation's budget."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._used = 0

    def reset(self) -> None:
        """Start the per-invocation byte budget afresh."""
        self._used = 0

    def write(self, level: int, raw: bytes) -> HostResult:
        """Keep one line at `level` (0 debug .. 3 error)."""
        if not 0 <= level < len(LEVELS):
            return HostResult(Code.BAD_ARGUMENT)
        if self._used >= TOTAL_CAP:
            self._recorder.drop_log(len(raw))
            return HostResult(Code.QUOTA)
        kept = raw[:LINE_CAP]
        if len(raw) > LINE_CAP:
            self._recorder.drop_log(len(raw) - LINE_CAP)
        self._used += len(kept)
        message, fields = _parse(kept.decode("utf-8", "replace"))
        self._recorder.log(
            made(
                LogLine,
                {
                    "level": LEVELS[level],
                    "message": message,
                    "fields": fields,
                    "at": datetime.now(UTC),
                },
            )
        )
        return HostResult(Code.OK)


def _parse(text: str) -> tuple[str, dict[str, object]]:
    """(message, fields) from a JSON object line, else the text as it is."""
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            return text, {}
        if isinstance(value, dict):
            message = value.pop("message", value.pop("msg", ""))
            return str(message), value
    return text, {}
