"""Tables are host memory that `limits.memory` does not count: their elements are capped in
every store, as in the pooling engine of command modules. Before, a reactor's `table.grow`
took sandbench to about 1 GB under a 16 MB memory limit, and the report said 64 KiB."""

from __future__ import annotations

import pytest

from sandbench.manifests import load
from sandbench.sandbox import Grants, Request, SandboxLimits
from sandbench.sandbox.wasm.engines import TABLE_ELEMENTS

from . import wat
from .test_wasm_reactor_hostile import reactor_of

# Grows its table a million elements at a time, 8 times or until refused; traps if the
# table then holds more than the cap, else answers 200.
TABLE_GROWER = wat.command(
    f"""
    (local $n i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $n) (i32.const 8)))
      (br_if $done (i32.eq (table.grow $t (ref.null func) (i32.const 1000000)) (i32.const -1)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next)))
    (if (i32.gt_u (table.size $t) (i32.const {TABLE_ELEMENTS})) (then unreachable))
    (drop (call $write (i32.const 1) (i32.const 64) (i32.const 15)))""",
    data=b"Status: 200\n\nok\n",
    extra="(table $t 1 funcref)",
)


@pytest.mark.parametrize("abi", ["command", "reactor"])
def test_a_growing_table_stops_at_the_cap_and_the_module_answers(backend, make_module, abi):
    source = TABLE_GROWER if abi == "command" else reactor_of(TABLE_GROWER)
    limits = SandboxLimits(memory_bytes=16 * 1024 * 1024)
    result = backend.load(load(make_module(source, abi=abi)), limits, Grants())
    assert result.instance is not None, result.violation
    with result.instance as instance:
        outcome = instance.invoke(Request())
    assert outcome.violation is None, outcome.violation
    assert outcome.response is not None
    assert outcome.response.status == 200
