"""The entry point of a module component: `handle` of the world `sandbench:platform/module`.

Bundled by `sandbench build`; it runs inside the sandbox. It converts the world's request
into a `sandbench_guest.Request`, calls the module's `handle`, and converts the answer back.
Anything the module raises becomes a `failure` the host turns into a violation.

The sandbox is wasmtime's (no files outside /storage, no sockets, no processes). An audit
hook adds the diagnosis: an attempt to open a file outside /storage, to import a socket
module or to start a process is refused on the spot, remembered, and reported as the call's
failure even when the module catches the error.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import sandbench_guest as guest
import wit_world
from componentize_py_types import Err
from wit_world.imports import types

_NETWORK = frozenset({"socket", "_socket", "ssl", "_ssl", "select", "selectors"})
_PROCESS = frozenset({"subprocess", "_posixsubprocess", "multiprocessing", "pty"})
_PROCESS_EVENTS = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork")
_ALLOWED_ROOTS = (
    *tuple(sorted({os.path.normpath(p) + "/" for p in sys.path if p.startswith("/") and p != "/"})),
    "/storage/",
)

_state: dict[str, Any] = {"serving": False, "denied": None}


def _deny(kind: types.FailureKind, what: str) -> None:
    if _state["denied"] is None:
        _state["denied"] = (kind, what)
    raise PermissionError(f"sandbench: {what}")


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _state["serving"]:
        return
    if event == "open":
        path = args[0]
        if isinstance(path, bytes):
            path = path.decode("utf-8", "replace")
        if isinstance(path, str):
            full = os.path.normpath(os.path.join("/", path))
            if not (full + "/").startswith(_ALLOWED_ROOTS):
                _deny(types.FailureKind.FILE_DENIED, f"opened {full}, outside /storage")
            if full.startswith("/storage/") and _writes(args[1], args[2]):
                bucket = "/".join(full.split("/")[:3])
                # A read-only preopen answers W_OK false; WASI would refuse the write anyway.
                if os.path.isdir(bucket) and not os.access(bucket, os.W_OK):
                    _deny(
                        types.FailureKind.FILE_DENIED,
                        f"opened {full} for writing; {bucket} is read-only "
                        f"(storage:read:{bucket.rsplit('/', 1)[1]})",
                    )
    elif event.startswith(_PROCESS_EVENTS) or event == "subprocess.Popen":
        _deny(types.FailureKind.PROCESS_DENIED, f"{event}: there are no processes")


def _writes(mode: object, flags: object) -> bool:
    """Does an `open` audit event's mode or flags ask for writing?"""
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    if not isinstance(flags, int) or flags < 0:
        return False
    # WASI's O_RDONLY is a bit of its own (and O_RDWR = O_RDONLY | O_WRONLY): compare the
    # access mode, not single bits.
    access = flags & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
    return access != os.O_RDONLY or bool(flags & (os.O_CREAT | os.O_TRUNC | os.O_APPEND))


class _ImportGuard:
    """First on `sys.meta_path`: every import of a module not loaded yet asks it first,
    whether by `import`, `__import__` or `importlib.import_module`."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        top = name.partition(".")[0]
        if not _state["serving"]:
            return None
        if top in _NETWORK:
            _deny(
                types.FailureKind.NETWORK_DENIED,
                f"imported {top}: there are no sockets in the sandbox; "
                "use sandbench_guest.http_fetch with an api:external:HOST permission",
            )
        if top in _PROCESS:
            _deny(types.FailureKind.PROCESS_DENIED, f"imported {top}: there are no processes")
        return None


os.environ.clear()  # nothing of the build's environment stays in the component
sys.addaudithook(_audit)
sys.meta_path.insert(0, _ImportGuard)  # type: ignore[arg-type]

# The module's top level runs while the component is built, where the host API is a stub
# that traps: what it prints, and the traceback of what it raises, go to the build's output.
import sandbench_app  # noqa: E402  (the module, after the hook)

guest._install_streams()


def _failure(kind: types.FailureKind, message: str) -> Err[types.Failure]:
    # The first line (what, and where in the module's files) is kept whole; the chain after
    # it is cut to the innermost frames.
    head, _, chain = message.partition("\n")
    return Err(types.Failure(kind, head[:1000] + ("\n" + chain[-3000:] if chain else "")))


# componentize-py mounts the module folder (its second `-p`) at /1/ inside the component.
_MODULE_MOUNT = "/1/"


def _where(exc: BaseException) -> str:
    """Where `exc` was raised, as ` (app.py, line 12, in handle)`, then the whole chain.

    The place is the innermost frame in the module's own files, so that an exception raised
    inside the standard library (json's decoder.py) points at the author's line that called
    it; the innermost frame of all when none is the module's. The chain follows on the next
    lines, innermost last, as `Traceback (most recent call last):` does.
    """
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    if not frames:
        return ""
    own = [f for f in frames if f.filename.startswith(_MODULE_MOUNT)]
    last = own[-1] if own else frames[-1]
    chain = "".join(f"\n  {_shown(f.filename)}, line {f.lineno}, in {f.name}" for f in frames)
    place = f" ({_shown(last.filename)}, line {last.lineno}, in {last.name})"
    return f"{place}\nTraceback (most recent call last):{chain}"


def _shown(filename: str) -> str:
    """A module file relative to its folder (`lib/parse.py`), any other by its name."""
    if filename.startswith(_MODULE_MOUNT):
        return filename[len(_MODULE_MOUNT) :]
    return os.path.basename(filename)


def _wire(value: Any) -> types.Response:
    if isinstance(value, (dict, list)):
        value = guest.Response.json(value)
    elif isinstance(value, (str, bytes)):
        value = guest.Response(200, value)
    if not isinstance(value, guest.Response):
        raise TypeError(f"handle returned {type(value).__name__}, not a Response")
    body = value.body.decode("latin-1")
    return types.Response(int(value.status), list(value.headers), body)


class WitWorld(wit_world.WitWorld):
    def handle(self, request: types.Request) -> types.Response:
        req = guest.Request(
            request.method,
            request.path,
            request.query,
            request.headers,
            request.body.encode("latin-1"),
        )
        _state["serving"], _state["denied"] = True, None
        try:
            answer = _wire(sandbench_app.handle(req))
        except MemoryError as exc:
            raise _failure(types.FailureKind.MEMORY, f"MemoryError{_where(exc)}") from None
        except RecursionError as exc:
            # A RecursionError's chain is a thousand frames: the place only.
            place = _where(exc).partition("\n")[0]
            raise _failure(types.FailureKind.RECURSION, f"{exc}{place}") from None
        except Exception as exc:
            if _state["denied"] is None:
                text = f"{type(exc).__name__}: {exc}{_where(exc)}"
                raise _failure(types.FailureKind.EXCEPTION, text) from None
        finally:
            _state["serving"] = False
            sys.stdout.flush()
            sys.stderr.flush()
        if _state["denied"] is not None:
            kind, what = _state["denied"]
            raise _failure(kind, what)
        return answer
