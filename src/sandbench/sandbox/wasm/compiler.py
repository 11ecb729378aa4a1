"""Compiling wasm in a child process under a memory and time bound (docs/abi.md, "Compiling").

Compiling is the one step that runs on a module's wasm before any sandbox limit applies, and
cranelift's memory grows with what the module declares (an 11 MB `.wat` of 150,000 functions
took 1.8 GB): an upload nobody reviewed could take the gate host's memory. So every
component, and every core module above `COMPILE_IN_PROCESS` bytes (see below), is compiled
by `_compile_child.py`, a process of its own whose limits the kernel enforces: it imports
wasmtime, sets `RLIMIT_AS` and `RLIMIT_CPU` on itself and hands back `serialize()` bytes,
which the backend caches (HMAC-signed) and deserializes as it would its own. The child runs
in its own process group: a timeout, `stop_all` (a SIGINT/SIGTERM or the gate's deadline,
through `WasmBackend.expire_calls`) or an exception in the parent kills the group and reaps
it, and the child dies with its parent (`PR_SET_PDEATHSIG`). Nothing is written to disk on
the way: the wasm goes through stdin, the artifact through stdout.

A child costs about 0.1 s (start and `import wasmtime`: 70 ms on the 2-core reference
machine under load) on top of the compile: 4-9x the in-process cold load of the vendas
example, and 55-70% more time for the sandbox test files that compile a module per test. So
a core module of at most `COMPILE_IN_PROCESS` bytes still compiles in-process: the costliest
shape found for its size (as many empty functions as fit, ~4 bytes each: 4,090 of them) took
0.37 s and 57 MB peak RSS in a fresh process (31 MB for an empty module), and compile memory
grows with the function count and bodies, which the size bounds (docs/abi.md, "Compiling").
Components are always compiled in a child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import wasmtime

from sandbench.errors import CompileLimitError, SandboxError
from sandbench.manifests import format_size
from sandbench.sandbox.interface import CompileBounds

from .engines import COMPILE_SETTINGS

__all__ = ["COMPILE_IN_PROCESS", "CompileStopped", "Compiler"]

COMPILE_IN_PROCESS = 16 << 10

_CHILD = str(Path(__file__).with_name("_compile_child.py"))
_INVALID = 10  # the child's exit codes (_compile_child.py)
_OUT_OF_MEMORY = 11
# What wasmtime prints when it aborts for want of memory: an allocation, or its compile
# threads' stacks (rayon cannot start them under a low limit).
_MEMORY_ABORTS = ("memory allocation of", "Cannot allocate memory", "ThreadPoolBuildError")


class CompileStopped(Exception):
    """A compile `stop_all` killed; the backend turns it into a load violation (timeout)."""


class Compiler:
    """Compiles wasm in children within `bounds`; `stop_all` kills the ones running
    (thread-safe). A child's CPU time is bounded too (`timeout_s` per CPU, a backstop)."""

    def __init__(self, bounds: CompileBounds) -> None:
        self.bounds = bounds
        self._running: set[subprocess.Popen[bytes]] = set()
        self._stopped: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()

    def compile(self, wasm: bytes, kind: str, entry: Path) -> bytes:
        """The serialized artifact of `wasm` (`kind`: module or component); with `kind`
        wat, the wasm binary of the WebAssembly text `wasm`.

        Raises `wasmtime.WasmtimeError` (wasmtime's message) for invalid wasm,
        `CompileLimitError` naming `entry` when the compile passes a bound,
        `CompileStopped` when `stop_all` killed it,
        `SandboxError` when the child cannot run or fails otherwise. The child is gone when
        this returns or raises, whatever happened (KeyboardInterrupt included).
        """
        cpu = int(self.bounds.timeout_s * (os.cpu_count() or 1)) + 1
        argv = [sys.executable, "-I", _CHILD, str(os.getpid()), kind, str(self.bounds.memory)]
        child: subprocess.Popen[bytes] | None = None
        out: bytes | None = None
        err = b""
        # One try from the start: a signal's exception raised as soon as the child exists
        # (before it is known here, the child itself leaves once this process is gone).
        try:
            child = subprocess.Popen(  # noqa: S603 - our interpreter and script, no shell
                [*argv, str(cpu), *COMPILE_SETTINGS],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                process_group=0,
            )
            with self._lock:
                self._running.add(child)
            out, err = child.communicate(wasm, timeout=self.bounds.timeout_s)
        except subprocess.TimeoutExpired:
            pass
        except OSError as exc:
            if child is not None:
                raise
            raise SandboxError(f"{entry}: cannot start the compiler: {exc.strerror}") from None
        finally:
            stopped = child is not None and self._end(child)
        assert child is not None  # noqa: S101 - Popen raised otherwise
        if stopped:
            raise CompileStopped(entry)
        if out is None:
            raise self._too_slow(entry)
        return self._result(child.returncode, out, err, entry)

    def stop_all(self) -> None:
        """Kill every compile running now; each raises `CompileStopped`."""
        with self._lock:  # under the lock: a child `_end` reaped is no longer in the set
            for child in self._running:
                if child.returncode is None:
                    self._stopped.add(child)
                    _kill(child)

    def _end(self, child: subprocess.Popen[bytes]) -> bool:
        """Kill `child`'s group if it still runs, and reap it; whether `stop_all` killed it."""
        if child.poll() is None:
            _kill(child)
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            child.communicate(timeout=5)
        with self._lock:
            child.wait()
            self._running.discard(child)
            stopped = child in self._stopped
            self._stopped.discard(child)
        return stopped

    def _result(self, code: int, out: bytes, err: bytes, entry: Path) -> bytes:
        """`out` if the child (exit `code`, `err` on stderr) succeeded; else what failed,
        raised as `compile` says. A SIGKILL that was not ours is the kernel's OOM killer."""
        text = err.decode("utf-8", "replace")
        if code == 0:
            return out
        if code == _INVALID:
            raise wasmtime.WasmtimeError(text)
        if code in (_OUT_OF_MEMORY, -signal.SIGKILL) or any(m in text for m in _MEMORY_ABORTS):
            raise self._too_big(entry)
        if code == -signal.SIGXCPU:
            raise self._too_slow(entry)
        why = text.strip().splitlines()[0] if text.strip() else f"exit status {code}"
        raise SandboxError(f"{entry}: the compiler failed: {why}")

    def _too_big(self, entry: Path) -> CompileLimitError:
        limit = format_size(self.bounds.memory)
        return CompileLimitError(
            entry,
            [
                f"compiling it needs more than {limit} of memory (policy compile_memory); "
                "make the module smaller (fewer or smaller functions) or raise compile_memory"
            ],
        )

    def _too_slow(self, entry: Path) -> CompileLimitError:
        return CompileLimitError(
            entry,
            [
                f"compiling it takes more than {self.bounds.timeout_s:g} s (policy "
                "compile_timeout_s); make the module smaller or raise compile_timeout_s"
            ],
        )


def _kill(child: subprocess.Popen[bytes]) -> None:
    """SIGKILL `child`'s process group (it leads its own); gone already is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
