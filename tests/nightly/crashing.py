"""An executor for the worker seam: kills its own process for modules named `*crash*`."""

from __future__ import annotations

import os

from sandbench.nightly.cell import Task
from sandbench.nightly.cell import execute as real_execute
from sandbench.nightly.models import CellResult


def execute(task: Task) -> CellResult:
    if "crash" in task.module:
        os._exit(9)  # what a segfault in a native extension looks like to the runner
    if "raise" in task.module:
        raise RuntimeError("host bug")
    return real_execute(task)
