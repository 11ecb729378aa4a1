"""The readers do work proportional to their input: counted, never timed.

`sys.setprofile` counts every Python and C function call a reader makes on an input that
grows 4x (tests/scanners/growing.py: imports, exports, permissions, calls on one line,
comments all grow). A reader that does work per pair (each import against each
permission) or re-scans per item makes 16x the calls; a linear one at most 4x plus its
constant overhead. What a single C call does inside (a copy of a long line) is not
counted: those cases have their own tests below, and benchmarks/test_reader_linearity.py
times all of it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbench.scanners._support.component_binary import read_component
from sandbench.scanners._support.pysource import MAX_QUOTE, python_use
from sandbench.scanners._support.wasm_binary import WasmFormatError, read_wasm
from sandbench.scanners._support.wat import read_wat
from sandbench.scanners.capabilities import CapabilityScanner
from tests.scanners.growing import component, leb, module_package, python_source, wasm, wat

SMALL, LARGE = 5, 20  # the factor k of growing.py; LARGE / SMALL = 4


def calls(work: Callable[[], Any]) -> int:
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return count


def _python_use(k: int, folder: Path) -> Callable[[], Any]:
    (folder / "app.py").write_text(python_source(k))
    return lambda: python_use(folder)


def _capabilities(k: int, folder: Path, kind: str) -> Callable[[], Any]:
    package = module_package(folder / "m", k, kind)
    return lambda: CapabilityScanner().scan(package)


READERS: dict[str, Callable[[int, Path], Callable[[], Any]]] = {
    "wasm_binary": lambda k, _: lambda: read_wasm(wasm(k)),
    "component_binary": lambda k, _: lambda: read_component(component(k)),
    "wat": lambda k, _: lambda: read_wat(wat(k)),
    "pysource": _python_use,
    "capabilities (core module)": lambda k, folder: _capabilities(k, folder, "wasm"),
    "capabilities (component, Python source)": lambda k, f: _capabilities(k, f, "component"),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_work_grows_no_faster_than_the_input(reader, tmp_path):
    (tmp_path / "small").mkdir()
    (tmp_path / "large").mkdir()
    small = calls(READERS[reader](SMALL, tmp_path / "small"))
    large = calls(READERS[reader](LARGE, tmp_path / "large"))
    assert large <= 4.4 * small, f"{reader}: {small} calls at {SMALL}, {large} at {LARGE}"


def test_repeated_or_out_of_order_sections_are_refused_at_once():
    # 20,000 function sections (2 MB) used to keep the reader busy 80 s; wasmtime refuses
    # the file in 7 ms, and so does the reader now: at the second function section.
    funcs = b"\x03" + leb(98) + leb(97) + b"\x00" * 97
    data = b"\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00" + funcs * 20_000
    with pytest.raises(WasmFormatError, match=r"offset 114: section 3 repeated or out of order"):
        read_wasm(data)
    for order in ([7, 3], [1, 1], [10, 11, 12]):
        body = b"\x00asm\x01\x00\x00\x00" + b"".join(bytes([i, 1, 0]) for i in order)
        with pytest.raises(WasmFormatError, match="repeated or out of order"):
            read_wasm(body)


def test_unknown_sections_and_left_over_bytes_are_refused():
    with pytest.raises(WasmFormatError, match="unknown section id 14"):
        read_wasm(b"\x00asm\x01\x00\x00\x00\x0e\x00")
    with pytest.raises(WasmFormatError, match="2 bytes left over"):
        read_wasm(b"\x00asm\x01\x00\x00\x00\x01\x03\x00\x60\x60")
    # custom sections (id 0) may appear anywhere, any number of times
    custom = b"\x00\x02\x01c"
    assert (
        read_wasm(b"\x00asm\x01\x00\x00\x00" + custom + b"\x01\x01\x00" + custom * 3).imports == []
    )


def test_a_long_line_of_calls_is_quoted_once_and_short(tmp_path):
    (tmp_path / "app.py").write_text(python_source(200))
    use = python_use(tmp_path)
    assert len(use.calls) > 2000
    assert {len(c.text) for c in use.calls if c.line == 2} == {MAX_QUOTE}
    assert len({id(c.text) for c in use.calls if c.line == 2}) == 1  # one copy, shared
