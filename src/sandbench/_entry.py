"""The `sandbench` console script: signals first, then the (slow to import) CLI.

SIGTERM (what CI timeouts, `timeout(1)` and orchestrators send) is turned into the same
exception as Ctrl-C, so both unwind every `with` block: containers are removed, temporary
folders deleted, scanner tools and children killed. Either ends in one line on stderr and
exit 130 (SIGINT) or 143 (SIGTERM), never a traceback, even during start-up. This module
imports nothing heavy, so the handlers are in place before the CLI's imports begin.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from sandbench.interrupts import watch_signals

__all__ = ["Terminated", "main"]


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived; handled everywhere exactly as Ctrl-C is."""


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the cleanup short
    raise Terminated(signum)


def interrupted(exc: KeyboardInterrupt) -> int:
    """Print the one line for an interruption and return its exit code (128 + signal)."""
    name, code = ("SIGTERM", 143) if isinstance(exc, Terminated) else ("Ctrl-C", 130)
    print(f"sandbench: interrupted ({name}); stopped and cleaned up", file=sys.stderr)
    return code


def main() -> None:
    """Entry point of the `sandbench` console script."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    watch_signals()  # native code (a WASM call) is cut short too, not only Python code
    try:
        from sandbench.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt as exc:
        sys.exit(interrupted(exc))
