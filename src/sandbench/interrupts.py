"""Making a SIGINT or SIGTERM felt at once, even while the main thread runs native code.

Python runs a signal handler only between bytecodes of the main thread; a WebAssembly call
(wasmtime, native code) may hold it up to the module's timeout. `watch_signals` (called by
the console script) has the interpreter write each signal to a pipe that a watcher thread
reads; the watcher calls every callback registered with `on_interrupt` (the WASM backend
ends its running calls), and the main thread then sees the signal's exception and unwinds.
This module imports nothing of ours: every layer may use it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable

__all__ = [
    "Terminated",
    "interrupt",
    "interrupted",
    "on_exit",
    "on_interrupt",
    "watch_signals",
]


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived; handled everywhere exactly as Ctrl-C is."""


def interrupted(exc: KeyboardInterrupt) -> int:
    """Print the one line for an interruption and return its exit code (128 + signal).

    The callbacks registered with `on_exit` run first (e.g. removing this process's own
    temporary folders, in case the signal landed between a folder's creation and the `with`
    that owns it): nothing is left to run by now.
    """
    for callback in _ON_EXIT:
        with contextlib.suppress(Exception):
            callback()
    name, code = ("SIGTERM", 143) if isinstance(exc, Terminated) else ("Ctrl-C", 130)
    print(f"sandbench: interrupted ({name}); stopped and cleaned up", file=sys.stderr)
    return code


_ON_EXIT: list[Callable[[], object]] = []


def on_exit(callback: Callable[[], object]) -> None:
    """Have `interrupted` call `callback` (once registered, for the process's lifetime)."""
    if callback not in _ON_EXIT:
        _ON_EXIT.append(callback)


_CALLBACKS: dict[int, Callable[[], None]] = {}
_LOCK = threading.Lock()
_WATCHING = False


def on_interrupt(callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` (from another thread) when a SIGINT or SIGTERM arrives; returns the
    function that unregisters it."""
    key = id(callback)
    with _LOCK:
        _CALLBACKS[key] = callback

    def remove() -> None:
        with _LOCK:
            _CALLBACKS.pop(key, None)

    return remove


def interrupt() -> None:
    """Call every registered callback; one that fails does not stop the others."""
    with _LOCK:
        callbacks = list(_CALLBACKS.values())
    for callback in callbacks:
        with contextlib.suppress(Exception):
            callback()


def _watch(fd: int) -> None:
    while True:
        try:
            data = os.read(fd, 64)
        except InterruptedError:
            continue
        if not data:
            return
        if {signal.SIGINT, signal.SIGTERM} & set(data):
            interrupt()


def watch_signals() -> None:
    """Start the watcher (once, from the main thread, after installing the handlers)."""
    global _WATCHING
    if _WATCHING:
        return
    read, write = os.pipe()
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    threading.Thread(target=_watch, args=(read,), name="sandbench-signals", daemon=True).start()
    _WATCHING = True
