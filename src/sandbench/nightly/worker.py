"""`python -m sandbench.nightly.worker EXECUTOR`: run cells sent as JSON lines on stdin.

Writes `ready`, then one `CellResult` JSON line per `Task` line. The protocol uses a
private copy of the original stdout; fd 1 is pointed at stderr, so nothing a cell prints
can corrupt it. An exception in a cell is a host bug: it becomes an `error` result.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable

from .cell import Task, failed_result
from .models import CellResult, CellStatus

__all__ = ["main"]


def main(executor: str) -> None:
    """Serve tasks until stdin closes."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    module_name, _, function = executor.partition(":")
    execute: Callable[[Task], CellResult] = getattr(importlib.import_module(module_name), function)
    out.write(b"ready\n")
    out.flush()
    for line in sys.stdin.buffer:
        task = Task.model_validate_json(line)
        started = time.perf_counter()
        try:
            result = execute(task)
        except Exception as exc:  # a host bug in one cell must not end the run
            ms = (time.perf_counter() - started) * 1000
            result = failed_result(task, CellStatus.ERROR, f"internal error: {exc!r}", ms)
        out.write(result.model_dump_json().encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "sandbench.nightly.cell:execute")
