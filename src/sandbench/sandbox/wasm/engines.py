"""The engines of the WASM backend, and the linker of core modules.

A `command` module gets a new instance for every request. With wasmtime's default
(on-demand) allocator every instance maps its linear memory (a 4 GiB reservation and its
guards) and tables afresh, and dropping its store unmaps them: about 13 µs to instantiate
and 15 µs to drop the store of the hello example here. wasmtime's pooling allocator
reserves slots once, when the engine is made, and reuses them (about 3.5 and 5 µs).
wasmtime-py 50 does not expose it, so it is set through the C API
(`wasmtime_pooling_allocation_*`, wasmtime-py's private `_bindings`, pinned major version).
A freed slot's linear memory is reset in place up to `KEEP_RESIDENT` bytes (its tables up
to a 16th of that): a memset, where unmapping cost a madvise per request and page faults
in the next one; what lies beyond is unmapped `DECOMMIT_BATCH` slots at a time. Either way
a request sees only the module's initial memory (tests/sandbox/test_wasm_stdio.py checks
that a dirtied data segment, zero page and grown page come back fresh). What stays resident
is what requests touched, at most 1 MiB and 256 KiB of tables per slot that ever ran one
(wasmtime reuses a module's warm slots first: about as many as requests run at once).

Only command modules use a pooling engine (`engine(pooling=True)`): reactors and
components keep instances alive, and a component needs many slots. Both engines have the
same settings otherwise, so a compiled artifact serves either (the cache is shared).

The pool's sizes bound what one backend runs at once: `SLOTS` command requests in flight
(each holds its instance, the files adapter's, one memory and up to four tables), each
memory up to 4 GiB (wasm32's most), tables up to `TABLE_ELEMENTS` entries and instance
state up to `INSTANCE_BYTES` (a module past these fails to instantiate, naming wasmtime's
limit). A request waits for a free slot (`CommandEngine.slots`) rather than fail for want
of one; the free slots are counted in C (`Slots`: a `threading.BoundedSemaphore`'s
condition variable cost 2-3 µs of Python per request). The reservation is address space,
not memory: about 0.5 TiB per pooling engine.
wasmtime aborts the process when it cannot reserve it, so under a finite `RLIMIT_AS`
(`ulimit -v`) command modules use the default allocator instead (`command_engine`).
"""

from __future__ import annotations

import queue
import resource
from dataclasses import dataclass, field

import wasmtime
from wasmtime import _bindings as ffi

from .guards import define_guards
from .host import define_host
from .poll import define_poll
from .stdio import define_stdio

__all__ = [
    "COMPILE_SETTINGS",
    "INSTANCE_BYTES",
    "SLOTS",
    "TABLE_ELEMENTS",
    "CommandEngine",
    "Slots",
    "command_engine",
    "core_linker",
    "engine",
]

SLOTS = 128
TABLE_ELEMENTS = 1 << 17
INSTANCE_BYTES = 16 << 20
KEEP_RESIDENT = 1 << 20
DECOMMIT_BATCH = 16
_MEMORY_BYTES = 1 << 32
# The settings that shape compiled code, switched on in both engines and in the compile
# child (compiler.py), so an artifact compiled there deserializes on either engine.
COMPILE_SETTINGS = ("consume_fuel", "epoch_interruption")


def engine(*, pooling: bool = False) -> wasmtime.Engine:
    """An engine with fuel metering and epoch interruption on; `pooling`: with the pooling
    instance allocator sized as the module docstring says. Raises `wasmtime.WasmtimeError`
    if wasmtime cannot make it (e.g. the address space cannot hold the pool)."""
    config = wasmtime.Config()
    for name in COMPILE_SETTINGS:
        setattr(config, name, True)
    if pooling:
        pool = ffi.wasmtime_pooling_allocation_config_new()
        try:
            ffi.wasmtime_pooling_allocation_config_total_core_instances_set(pool, 2 * SLOTS)
            ffi.wasmtime_pooling_allocation_config_total_memories_set(pool, SLOTS)
            ffi.wasmtime_pooling_allocation_config_total_tables_set(pool, 4 * SLOTS)
            ffi.wasmtime_pooling_allocation_config_max_memory_size_set(pool, _MEMORY_BYTES)
            ffi.wasmtime_pooling_allocation_config_max_tables_per_module_set(pool, 4)
            ffi.wasmtime_pooling_allocation_config_table_elements_set(pool, TABLE_ELEMENTS)
            ffi.wasmtime_pooling_allocation_config_max_core_instance_size_set(pool, INSTANCE_BYTES)
            # A freed slot's first KEEP_RESIDENT bytes are reset in place (zeroed, the
            # module's image restored) instead of unmapped, and the rest is unmapped in
            # batches: no madvise per request and no page faults on the next one.
            keep = KEEP_RESIDENT
            ffi.wasmtime_pooling_allocation_config_linear_memory_keep_resident_set(pool, keep)
            ffi.wasmtime_pooling_allocation_config_table_keep_resident_set(pool, keep // 16)
            ffi.wasmtime_pooling_allocation_config_decommit_batch_size_set(pool, DECOMMIT_BATCH)
            ffi.wasmtime_pooling_allocation_strategy_set(config.ptr(), pool)
        finally:
            ffi.wasmtime_pooling_allocation_config_delete(pool)
    return wasmtime.Engine(config)


def core_linker(on: wasmtime.Engine) -> wasmtime.Linker:
    """The linker of core modules on engine `on`: WASI, with the sandbox's own `fd_write`
    (stdio.py), `poll_oneoff` (poll.py), the host API, and the limits' guards (guards.py)."""
    linker = wasmtime.Linker(on)
    linker.define_wasi()
    linker.allow_shadowing = True
    define_host(linker)
    # wasmtime's own poll_oneoff would block where the epoch deadline cannot reach it;
    # ours sleeps within the call's deadline (docs/abi.md, "Sleeping").
    define_poll(linker)
    define_stdio(linker)  # stdout/stderr into the capped sinks, no worker thread
    define_guards(linker, on)  # limits enforced in host functions (guards.py)
    return linker


class Slots:
    """A semaphore of `count` slots whose counting is C code: the free slots are tokens in a
    `queue.SimpleQueue` (taken and put back without a Python-level lock or condition)."""

    def __init__(self, count: int) -> None:
        self._free: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(count):
            self._free.put(None)

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take a slot, waiting for one (at most `timeout` s) when `blocking`; whether taken."""
        try:
            self._free.get(blocking, timeout)
        except queue.Empty:
            return False
        return True

    def release(self) -> None:
        """Give back a slot taken by `acquire` (and only such a slot)."""
        self._free.put(None)


@dataclass(frozen=True)
class CommandEngine:
    """The pooling engine of command modules, its linker, and one slot per request the
    pool can hold at once."""

    engine: wasmtime.Engine
    linker: wasmtime.Linker
    slots: Slots = field(default_factory=lambda: Slots(SLOTS))


def command_engine() -> CommandEngine:
    """A new engine for command modules, with its linker: a pooling one unless the process
    may not reserve the pool's address space (see the module docstring)."""
    pooled = engine(pooling=_unlimited_address_space())
    return CommandEngine(engine=pooled, linker=core_linker(pooled))


def _unlimited_address_space() -> bool:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return soft == resource.RLIM_INFINITY
