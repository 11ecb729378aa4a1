"""The `sandbench` console script: signals first, then the (slow to import) CLI.

SIGTERM (what CI timeouts, `timeout(1)` and orchestrators send) is turned into the same
exception as Ctrl-C, so both unwind every `with` block: containers are removed, temporary
folders deleted, scanner tools and children killed. Either ends in one line on stderr and
exit 130 (SIGINT) or 143 (SIGTERM), never a traceback, even during start-up. This module
imports nothing heavy, so the handlers are in place before the CLI's imports begin.

The process ends with `os._exit` once the CLI is done (see `_leave`): wasmtime's WASI keeps
tokio worker threads for the life of the process, and when interpreter finalization
outlasts them on a busy machine one of them aborts the process (SIGABRT, exit 134, after
the report was written). Measured with both cores busy: 6 runs in 40 of a one-call
script aborted at exit, none in 60 leaving this way.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
from types import FrameType
from typing import NoReturn

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

    status: object = 0
    try:  # from the first handler on: a signal is the exception, caught below
        signal.signal(signal.SIGINT, signal.default_int_handler)  # KeyboardInterrupt from here
        signal.signal(signal.SIGTERM, _on_sigterm)
        watch_signals()  # native code (a WASM call) is cut short too, not only Python code
        from sandbench.cli import main as cli_main

        cli_main()
    except SystemExit as exc:
        status = exc.code
    except KeyboardInterrupt as exc:
        status = interrupted(exc)
    _leave(status)


def _leave(status: object) -> NoReturn:
    """End the process with `status` (as `sys.exit` takes it), skipping finalization.

    Everything a normal exit does for us still happens: the `atexit` callbacks run
    (`weakref.finalize` and `tempfile` clean-ups included) and stdout and stderr are
    flushed. What is skipped is tearing down modules and the C library's exit handlers,
    during which wasmtime's worker threads can abort the process. A signal from here on
    finds the run over: it must not cut the clean-up short or print a traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if status is None:
        code = 0
    elif isinstance(status, int):
        code = status
    else:  # `sys.exit("message")`: print it, exit 1, as the interpreter would
        print(status, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader gone, a closed stream
            stream.flush()
    os._exit(code)
