"""The `sandbench` console script: signals first, then the (slow to import) CLI.

SIGTERM (what CI timeouts, `timeout(1)` and orchestrators send) is turned into the same
exception as Ctrl-C, so both unwind every `with` block: containers are removed, temporary
folders deleted, scanner tools and children killed. Either ends in one line on stderr and
exit 130 (SIGINT) or 143 (SIGTERM), never a traceback, even during start-up. This module
imports nothing heavy, so the handlers are in place before the CLI's imports begin.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

__all__ = ["main"]


def _during_start_up(signum: int, _frame: FrameType | None) -> None:
    # Nothing has been made yet: say so in the usual line and leave at once.
    name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
    sys.stderr.write(f"sandbench: interrupted ({name}); stopped and cleaned up\n")
    os._exit(128 + signum)


# Before anything else is imported: a signal during start-up is one line, not a traceback.
signal.signal(signal.SIGINT, _during_start_up)
signal.signal(signal.SIGTERM, _during_start_up)


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    from sandbench.interrupts import Terminated  # imported by `main` already

    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the cleanup short
    raise Terminated(signum)


def main() -> None:
    """Entry point of the `sandbench` console script."""
    from sandbench.interrupts import interrupted, watch_signals

    signal.signal(signal.SIGINT, signal.default_int_handler)  # KeyboardInterrupt from here
    signal.signal(signal.SIGTERM, _on_sigterm)
    watch_signals()  # native code (a WASM call) is cut short too, not only Python code
    try:
        from sandbench.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt as exc:
        sys.exit(interrupted(exc))
