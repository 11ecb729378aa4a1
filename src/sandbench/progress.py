"""The progress seam: long operations report their steps through a callback, never print.

    progress(done, total, step)

is called as each step begins (`done` steps of `total` are finished) and once more with
`done == total` at the end. The CLI injects a bar on a TTY, a line per step otherwise, or
nothing (`-q`); the Python API defaults to `silent`.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress", "Steps", "silent"]

Progress = Callable[[int, int, str], None]


def silent(done: int, total: int, step: str) -> None:
    """A `Progress` that shows nothing."""


class Steps:
    """Counts the steps of one operation whose step count is known up front."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self._progress = progress or silent
        self._total = total
        self._done = 0

    def start(self, step: str) -> None:
        """Step `step` begins; the previous one (if any) is done."""
        self._progress(min(self._done, self._total - 1), self._total, step)
        self._done += 1

    def finish(self, step: str = "done") -> None:
        """Every step is done."""
        self._progress(self._total, self._total, step)
