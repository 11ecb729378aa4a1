"""The progress UI the CLI injects (see `sandbench.progress`), on stderr.

On a TTY: one bar redrawn in place (carriage return), cleared at the end. Otherwise: one
line per step, so logs of CI and nightly runs show where the time went. `-q`: nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import click

from sandbench.progress import Progress, silent

from .config import verbosity

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


@contextmanager
def progress_for(quiet: bool, stream: TextIO | None = None) -> Iterator[Progress]:
    """The progress UI for a command: silent with `quiet`, a bar on a TTY, else lines.

    On the way out a bar that did not finish (the command failed) is cleared, so the
    one-line error that follows starts on a clean line.
    """
    if quiet or verbosity() < 0:  # `sandbench check -q` or `sandbench -q check`
        yield silent
        return
    out = stream if stream is not None else sys.stderr
    if not out.isatty():
        yield _Lines(out)
        return
    bar = _Bar(out)
    try:
        yield bar
    finally:
        bar.close()


class _Lines:
    """`[2/5] step` per step; the final call prints the total time."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._started = time.monotonic()

    def __call__(self, done: int, total: int, step: str) -> None:
        if done >= total:
            line = f"[{total}/{total}] done: {step} in {time.monotonic() - self._started:.1f} s"
        else:
            line = f"[{done + 1}/{total}] {step}"
        self._out.write(line + "\n")
        self._out.flush()


class _Bar:
    """A bar redrawn in place, its clock ticking every second while a step runs (a compile
    takes tens of seconds); the final call leaves one summary line. `close()` stops the
    ticker thread and blanks an unfinished bar."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._started = time.monotonic()
        self._last = 0
        self._state = (0, 1, "")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="sandbench-progress", daemon=True)
        self._ticker.start()

    def __call__(self, done: int, total: int, step: str) -> None:
        with self._lock:
            self._state = (done, total, step)
            self._draw()
            if done >= total:
                self._out.write("\n")
                self._out.flush()
                self._last = 0
                self._stop.set()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                if self._last:
                    self._draw()

    def _draw(self) -> None:
        done, total, step = self._state
        filled = _WIDTH * min(done, total) // max(total, 1)
        elapsed = time.monotonic() - self._started
        bar = "#" * filled + "-" * (_WIDTH - filled)
        text = f"[{bar}] {min(done + 1, total)}/{total} {step} ({elapsed:.0f} s)"
        pad = " " * max(self._last - len(text), 0)
        self._last = len(text)
        self._out.write(f"\r{text}{pad}")
        self._out.flush()

    def close(self) -> None:
        """Stop the ticker and blank an unfinished bar; closing twice is harmless."""
        self._stop.set()
        self._ticker.join()
        with self._lock:
            if self._last:
                self._out.write("\r" + " " * self._last + "\r")
                self._out.flush()
                self._last = 0
