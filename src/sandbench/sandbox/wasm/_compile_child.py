"""The compile child: run as a script (`python -I _compile_child.py ...`), never imported.

It imports nothing of sandbench (a package import would load pydantic and the backend: ~0.3 s
per compile), only wasmtime. Its contract with `compiler.py`:

    argv: PARENT_PID KIND MEMORY_BYTES CPU_SECONDS SETTING...
          PARENT_PID is the process that started it; KIND is `module`, `component` or
          `wat`; each SETTING is a boolean `wasmtime.Config` attribute to switch on (the
          engines' compile-relevant settings, engines.py)
    stdin: the wasm binary (`wat`: WebAssembly text)
    stdout: the serialized artifact (`wat`: the wasm binary) (exit 0)
    exit 4: PARENT_PID was gone when the child started (nobody reads this)
    exit 10: the input is invalid; stderr holds wasmtime's message
    exit 11: out of memory: Python's, or wasmtime's error for a module that validates (a
             failed mmap); a failed allocation in wasmtime aborts instead (SIGABRT, its
             message `memory allocation of N bytes failed` on stderr)
    (any other exit, e.g. 1 for a traceback, is a failure of the child itself)

The resource limits are set once wasmtime is imported (its library counts): the address
space (`RLIMIT_AS`, so every mmap of cranelift's threads counts) and the CPU time
(`RLIMIT_CPU`, SIGXCPU then SIGKILL a second later). Before that the child asks to be
killed when its parent dies (`PR_SET_PDEATHSIG`) and leaves if it died already, so a
parent killed outright, or interrupted before it knew of the child, leaves no compile
running.
"""

import ctypes
import errno
import os
import resource
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import wasmtime

_PR_SET_PDEATHSIG = 1
_INVALID = 10
_OUT_OF_MEMORY = 11


def _die_with_parent(parent: int) -> None:
    """Be killed when `parent` ends; leave now if it ended already (while this interpreter
    started: an interrupted sandbench may not have known this process yet)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's timeout still kills it
        pass
    if os.getppid() != parent:
        sys.exit(4)


def main() -> int:
    parent, kind, memory, cpu, *settings = sys.argv[1:]
    _die_with_parent(int(parent))
    # Imported before the limit: a limit too low for the runtime itself is still a clean
    # out-of-memory below, not a failed dlopen.
    import wasmtime
    import wasmtime.component

    resource.setrlimit(resource.RLIMIT_AS, (int(memory), int(memory)))
    resource.setrlimit(resource.RLIMIT_CPU, (int(cpu), int(cpu) + 1))
    try:
        data = sys.stdin.buffer.read()
        if kind == "wat":
            return _converted(data)
        config = wasmtime.Config()
        for name in settings:
            setattr(config, name, True)
        return _compiled(wasmtime.Engine(config), kind, data)
    except MemoryError:
        return _OUT_OF_MEMORY
    except OSError as exc:  # e.g. a lazy import or a pipe buffer the limit refused
        if exc.errno == errno.ENOMEM:
            return _OUT_OF_MEMORY
        raise


def _converted(text: bytes) -> int:
    """WebAssembly text to its binary, on stdout."""
    import wasmtime

    try:
        wasm = wasmtime.wat2wasm(text.decode("utf-8"))
    except (wasmtime.WasmtimeError, UnicodeDecodeError) as exc:
        sys.stderr.write(str(exc))
        return _INVALID
    sys.stdout.buffer.write(wasm)
    sys.stdout.buffer.flush()
    return 0


def _compiled(engine: "wasmtime.Engine", kind: str, wasm: bytes) -> int:
    """The serialized artifact of a module or component, on stdout."""
    import wasmtime
    from wasmtime import component

    make = component.Component if kind == "component" else wasmtime.Module
    try:
        artifact = make(engine, wasm).serialize()
    except wasmtime.WasmtimeError as exc:
        sys.stderr.write(str(exc))
        return _INVALID if _invalid(engine, kind, wasm) else _OUT_OF_MEMORY
    sys.stdout.buffer.write(artifact)
    sys.stdout.buffer.flush()
    return 0


def _invalid(engine: "wasmtime.Engine", kind: str, wasm: bytes) -> bool:
    """Whether a failed compile was the wasm's fault: a module is validated again (cheap,
    little memory); a component cannot be, and its failures count as invalid."""
    import wasmtime  # imported by `main` already, after the limits

    if kind == "component":
        return True
    try:
        wasmtime.Module.validate(engine, wasm)
    except wasmtime.WasmtimeError:
        return True
    except MemoryError:
        return False
    return False


if __name__ == "__main__":
    sys.exit(main())
