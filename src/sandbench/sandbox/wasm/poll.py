"""WASI preview 1 `poll_oneoff`, as the sandbox serves it (docs/abi.md, "Sleeping").

wasmtime's own `poll_oneoff` blocks in native code where the epoch deadline cannot reach
it, so the backend links this one instead:

- a clock subscription (relative or absolute, `realtime` or `monotonic`) is a sleep, cut
  short at the call's wall-clock deadline (sleeping counts against `limits.timeout`,
  never against `limits.cpu`); a module that sleeps past its deadline is flagged
  (`PollState.overslept`) and its store's epoch deadline is set to now, so it traps at once;
- `fd_read` on stdin and `fd_write` on stdout and stderr are ready at once (stdin is the
  request body, a file; the outputs are in-memory sinks); any other descriptor gets
  `EBADF` in its event;
- `nsubscriptions == 0` is `EINVAL`; a pointer outside linear memory is `EFAULT`.

The wait is `time.sleep`, which releases the GIL: other instances keep running. Which
call's deadline applies is per call state (`scoped`, `PollState.arm`), set on the thread
that runs the wasm, like the host API's `bound`.
"""

from __future__ import annotations

import struct
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import wasmtime

from sandbench.sandbox.budget import CappedOutput

__all__ = ["PollState", "current", "define_poll", "scoped"]

WASI = "wasi_snapshot_preview1"
_SUBSCRIPTION = 48
_EVENT = 32
_ESUCCESS, _EBADF, _EFAULT, _EINVAL = 0, 8, 21, 28
_CLOCK, _FD_READ, _FD_WRITE = 0, 1, 2
_REALTIME, _MONOTONIC = 0, 1
_ABSTIME = 1
_NS = 1_000_000_000

_current: ContextVar[PollState | None] = ContextVar("sandbench_poll", default=None)


@dataclass
class PollState:
    """What `poll_oneoff` needs to know about the call in progress on this thread.

    `origin_ns` is `time.monotonic_ns()` taken right after WASI's context was made: WASI's
    monotonic clock counts from then, so an absolute monotonic timeout `t` falls due at
    `origin_ns + t` (never earlier than the guest's clock says).
    """

    store: wasmtime.Store
    stdout: CappedOutput
    stderr: CappedOutput
    origin_ns: int
    stdin_bytes: int = 0
    deadline: float = 0.0
    slept_s: float = 0.0
    overslept: bool = False
    # The guest's exported memory, found by stdio.py's fd_write at its first write (one
    # guest instance per store: it stays the same for the store's life).
    memory: Any = None

    def arm(self, timeout_ms: int, stdin_bytes: int = 0) -> None:
        """Start a call with `timeout_ms` of wall clock from now; make it this thread's."""
        self.deadline = time.monotonic() + timeout_ms / 1000
        self.stdin_bytes = stdin_bytes
        self.slept_s = 0.0
        self.overslept = False
        _current.set(self)


def current() -> PollState | None:
    """The call armed on this thread (`PollState.arm`) and not yet forgotten, if any."""
    return _current.get()


class scoped:  # lower case: used as `with scoped():`, like the function it replaced
    """Calls armed inside the block are forgotten when it ends (no store outlives its call).

    A class rather than a `contextmanager` generator: it runs on every call, and the
    generator's set-up costs about a microsecond.
    """

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _current.set(None)

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)


def define_poll(linker: wasmtime.Linker) -> None:
    """Define `wasi_snapshot_preview1.poll_oneoff` on `linker` (shadowing wasmtime's)."""
    i32 = wasmtime.ValType.i32()
    ty = wasmtime.FuncType([i32] * 4, [i32])
    linker.define_func(WASI, "poll_oneoff", ty, _poll_oneoff, access_caller=True)


def _poll_oneoff(caller: wasmtime.Caller, subs: int, events: int, count: int, out: int) -> int:
    memory = caller.get("memory")
    count &= 0xFFFFFFFF
    if count == 0:
        return _EINVAL
    if not isinstance(memory, wasmtime.Memory):
        return _EFAULT
    size = memory.data_len(caller)
    subs, events, out = subs & 0xFFFFFFFF, events & 0xFFFFFFFF, out & 0xFFFFFFFF
    if subs + count * _SUBSCRIPTION > size or events + count * _EVENT > size or out + 4 > size:
        return _EFAULT
    raw = bytes(memory.read(caller, subs, subs + count * _SUBSCRIPTION))
    state = _current.get()
    written = _answer(
        state, [raw[i : i + _SUBSCRIPTION] for i in range(0, len(raw), _SUBSCRIPTION)]
    )
    memory.write(caller, b"".join(written), events)
    memory.write(caller, struct.pack("<I", len(written)), out)
    return _ESUCCESS


def _event(userdata: int, error: int, kind: int, nbytes: int = 0, flags: int = 0) -> bytes:
    """One 32-byte `event`: userdata u64, error u16, type u8, fd_readwrite {nbytes u64, flags u16}."""
    return struct.pack("<QHBxxxxxQH6x", userdata, error, kind, nbytes, flags)


def _answer(state: PollState | None, subs: list[bytes]) -> list[bytes]:
    """The events for `subs`, after sleeping if only clocks were asked for."""
    ready: list[bytes] = []
    clocks: list[tuple[float, int]] = []
    now = time.monotonic()
    for sub in subs:
        userdata, tag = struct.unpack_from("<QB", sub)
        if tag == _CLOCK:
            wake = _wake_time(sub, state, now)
            if wake is None:
                ready.append(_event(userdata, _EINVAL, _CLOCK))
            else:
                clocks.append((wake, userdata))
        elif tag in (_FD_READ, _FD_WRITE):
            ready.append(_fd_event(sub, userdata, tag, state))
        else:
            ready.append(_event(userdata, _EINVAL, tag))
    if not ready and clocks:
        _sleep_until(min(wake for wake, _ in clocks), state)
    now = time.monotonic()
    due = [_event(data, _ESUCCESS, _CLOCK) for wake, data in clocks if wake <= now]
    if not ready and not due:  # cut short by the deadline: report the first clock anyway
        due = [_event(min(clocks)[1], _ESUCCESS, _CLOCK)]
    return ready + due


def _wake_time(sub: bytes, state: PollState | None, now: float) -> float | None:
    """When a clock subscription falls due, in `time.monotonic()` seconds; None: bad clock."""
    clock_id, raw_timeout, _precision, flags = struct.unpack_from("<IxxxxQQH", sub, 16)
    timeout = int(raw_timeout)
    if clock_id not in (_REALTIME, _MONOTONIC):
        return None
    if not flags & _ABSTIME:
        return now + timeout / _NS
    if clock_id == _REALTIME:
        return now + (timeout - time.time_ns()) / _NS
    origin = state.origin_ns if state is not None else time.monotonic_ns()
    return (origin + timeout) / _NS


def _fd_event(sub: bytes, userdata: int, tag: int, state: PollState | None) -> bytes:
    (fd,) = struct.unpack_from("<I", sub, 16)
    if tag == _FD_READ and fd == 0:
        return _event(userdata, _ESUCCESS, tag, state.stdin_bytes if state else 0)
    if tag == _FD_WRITE and fd in (1, 2):
        room = 0
        if state is not None:
            sink = state.stdout if fd == 1 else state.stderr
            room = max(sink.cap - sink.size, 0)
        return _event(userdata, _ESUCCESS, tag, room)
    return _event(userdata, _EBADF, tag)


def _sleep_until(wake: float, state: PollState | None) -> None:
    """Sleep until `wake` or the call's deadline, whichever is first (GIL released)."""
    started = time.monotonic()
    deadline = state.deadline if state is not None else started
    end = min(wake, deadline)
    while (left := end - time.monotonic()) > 0:
        time.sleep(left)
    if state is None:
        return
    state.slept_s += time.monotonic() - started
    if wake > deadline:
        state.overslept = True
        state.store.set_epoch_deadline(0)  # trap at the guest's next epoch check
