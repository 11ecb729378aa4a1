"""The progress UI the CLI injects (see `sandbench.progress`), on stderr.

On a TTY: one bar redrawn in place (carriage return), cleared at the end. Otherwise: one
line per step, so logs of CI and nightly runs show where the time went. `-q`: nothing.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import click

from sandbench.progress import Progress, silent

__all__ = ["cold_option", "progress_for", "quiet_option"]

_WIDTH = 24

quiet_option = click.option(
    "-q", "--quiet", is_flag=True, help="No progress on stderr (the result is still printed)."
)

cold_option = click.option(
    "--cold",
    is_flag=True,
    help="Compile afresh to measure the cold load (default: the compile time recorded "
    "when the cached artifact was compiled).",
)


def progress_for(quiet: bool, stream: TextIO | None = None) -> Progress:
    """The progress UI for a command: silent with `quiet`, a bar on a TTY, else lines."""
    if quiet:
        return silent
    out = stream if stream is not None else sys.stderr
    return _Bar(out) if out.isatty() else _Lines(out)


class _Lines:
    """`[2/5] step` per step; the final call prints the total time."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._started = time.monotonic()

    def __call__(self, done: int, total: int, step: str) -> None:
        if done >= total:
            line = f"[{total}/{total}] {step} in {time.monotonic() - self._started:.1f} s"
        else:
            line = f"[{done + 1}/{total}] {step}"
        self._out.write(line + "\n")
        self._out.flush()


class _Bar:
    """A bar redrawn in place; the final call leaves one summary line."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._started = time.monotonic()
        self._last = 0

    def __call__(self, done: int, total: int, step: str) -> None:
        filled = _WIDTH * done // max(total, 1)
        elapsed = time.monotonic() - self._started
        bar = "#" * filled + "-" * (_WIDTH - filled)
        text = f"[{bar}] {min(done + 1, total)}/{total} {step} ({elapsed:.0f} s)"
        pad = " " * max(self._last - len(text), 0)
        self._last = len(text)
        self._out.write(f"\r{text}{pad}")
        if done >= total:
            self._out.write("\n")
        self._out.flush()
