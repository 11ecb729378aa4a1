"""The component reader: a real componentize-py component, wasmtime's view of small
hand-made ones, and hostile input (truncations, flipped bytes, lying counts)."""

from __future__ import annotations

import contextlib
import os
import random

import pytest
import wasmtime
import wasmtime.component as wc
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbench.scanners._support.component_binary import (
    MAX_ENTRIES,
    MAX_SECTION_BYTES,
    MAX_SECTIONS,
    ComponentExport,
    ComponentImport,
    is_component,
    read_component,
    read_component_file,
)
from sandbench.scanners._support.wasm_binary import MAX_BYTES, WasmFormatError, read_wasm
from tests.scanners.conftest import EXAMPLES, BuiltComponent

PREAMBLE = b"\x00asm\x0d\x00\x01\x00"


def uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def section(section_id: int, body: bytes) -> bytes:
    return bytes([section_id]) + uleb(len(body)) + body


def name(text: str, tag: int = 0) -> bytes:
    raw = text.encode()
    return bytes([tag]) + uleb(len(raw)) + raw


def vec(*items: bytes) -> bytes:
    return uleb(len(items)) + b"".join(items)


# Type 0: an empty instance type; type 1: func() with no results.
TYPES = section(7, vec(b"\x42\x00", b"\x40\x00\x01\x00"))
POLL = name("wasi:io/poll@0.2.9") + b"\x05\x00"
MISSILES = name("launch-missiles") + b"\x01\x01"
RESOURCE = name("thing") + b"\x03\x01"
EXPORT_POLL = name("poll") + b"\x05\x00\x00"
SMALL = (
    PREAMBLE + TYPES + section(10, vec(POLL, MISSILES, RESOURCE)) + section(11, vec(EXPORT_POLL))
)


def _wasmtime_names(data: bytes) -> tuple[list[str], list[str]]:
    engine = wasmtime.Engine()
    kind = wc.Component(engine, data).type
    return list(kind.imports(engine)), list(kind.exports(engine))


def test_small_component_agrees_with_wasmtime():
    shape = read_component(SMALL)
    imports, exports = _wasmtime_names(SMALL)
    assert [i.name for i in shape.imports] == imports
    assert [e.name for e in shape.exports] == exports
    assert shape.imports == [
        ComponentImport("wasi:io/poll@0.2.9", "instance"),
        ComponentImport("launch-missiles", "func"),
        ComponentImport("thing", "type"),
    ]
    assert shape.exports == [ComponentExport("poll", "instance")]


def test_legacy_interface_name_tag_reads_as_wasmtime_does():
    # wasm-tools wrote 0x01 before 2024-09; wasmtime 50 still reads it as a plain name.
    data = PREAMBLE + TYPES + section(10, vec(name("wasi:io/poll@0.2.9", tag=1) + b"\x05\x00"))
    assert [i.name for i in read_component(data).imports] == _wasmtime_names(data)[0]


def test_every_extern_kind():
    imports = vec(
        name("m") + b"\x00\x11\x00",  # core module of core type 0
        name("f") + b"\x01\x01",  # func
        name("v") + b"\x02\x01\x73",  # value of type string
        name("w") + b"\x02\x01\x05",  # value of type index 5
        name("u") + b"\x02\x00\x03",  # value (eq value 3)
        name("t") + b"\x03\x00\x04",  # type (eq 4)
        name("c") + b"\x04\x02",  # component
        name("i") + b"\x05\x00",  # instance
    )
    exports = vec(name("handle") + b"\x01\x00\x01\x01\x01", name("mod") + b"\x00\x11\x00\x00")
    shape = read_component(PREAMBLE + section(10, imports) + section(11, exports))
    assert [(i.name, i.kind, i.bound) for i in shape.imports] == [
        ("m", "module", False),
        ("f", "func", False),
        ("v", "value", False),
        ("w", "value", False),
        ("u", "value", False),
        ("t", "type", True),
        ("c", "component", False),
        ("i", "instance", False),
    ]
    assert shape.exports == [ComponentExport("handle", "func"), ComponentExport("mod", "module")]


def test_core_modules_and_components_are_told_apart():
    vendas = (EXAMPLES / "vendas" / "module.wasm").read_bytes()
    assert not is_component(vendas)
    assert is_component(SMALL)
    with pytest.raises(WasmFormatError, match="not a WebAssembly component"):
        read_component(vendas)
    with pytest.raises(WasmFormatError, match="a component"):
        read_wasm(SMALL)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00asm\x0c\x00\x01\x00", "unsupported component binary version 0c00"),
        (PREAMBLE + b"\x0a", "header, offset 9: unexpected end"),
        (PREAMBLE + b"\x0a\x05\x01", "section 10 size 5 runs past the end"),
        (PREAMBLE + section(10, b"\xff\xff\xff\xff\x0f"), "count 4294967295 exceeds"),
        (PREAMBLE + section(10, b"\x80\x80\x80\x80\x80\x01"), "LEB128 longer than 5 bytes"),
        (PREAMBLE + section(10, b"\xff\xff\xff\xff\x7f"), "wider than 32 bits"),
        (PREAMBLE + section(10, vec(name("x", tag=2) + b"\x05\x00")), "bad name tag 0x2"),
        (PREAMBLE + section(10, vec(b"\x00\x01\xff\x05\x00")), "name is not UTF-8"),
        (PREAMBLE + section(10, b"\x01\x00\x00\x05\x00"), "empty import or export name"),
        (PREAMBLE + section(10, vec(name("x") + b"\x06\x00")), "unknown sort 0x6"),
        (PREAMBLE + section(10, vec(name("x") + b"\x00\x00\x00")), "core sort 0x0 cannot"),
        (PREAMBLE + section(10, vec(name("x") + b"\x03\x02")), "bad type bound 0x2"),
        (PREAMBLE + section(10, vec(name("x") + b"\x02\x07\x00")), "bad value bound 0x7"),
        (PREAMBLE + section(10, vec(name("x") + b"\x05\x00") + b"\x00"), "1 bytes left over"),
        (PREAMBLE + section(11, vec(name("x") + b"\x01\x00\x02")), "bad optional type tag"),
        (PREAMBLE + section(10, vec(name("x") + b"\x05")), "section 10, offset 15: unexpected end"),
    ],
)
def test_malformed_input_is_one_clear_error(data, message, tmp_path):
    with pytest.raises(WasmFormatError, match=message) as in_memory:
        read_component(data)
    (tmp_path / "c.wasm").write_bytes(data)
    with pytest.raises(WasmFormatError) as from_file:
        read_component_file(tmp_path / "c.wasm")
    assert str(from_file.value) == str(in_memory.value)  # offsets are file offsets


def test_section_and_entry_counts_are_capped():
    many_sections = PREAMBLE + b"\x00\x00" * (MAX_SECTIONS + 1)
    # The error names the cap: the reader stopped there (bounded work), whatever the clock says.
    with pytest.raises(WasmFormatError, match=f"more than {MAX_SECTIONS} sections"):
        read_component(many_sections)
    entries = vec(*[name(f"i{n}") + b"\x05\x00" for n in range(MAX_ENTRIES + 1)])
    with pytest.raises(WasmFormatError, match=f"more than {MAX_ENTRIES} imports"):
        read_component(PREAMBLE + section(10, entries))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_after_the_preamble_never_escape(tail):
    with contextlib.suppress(WasmFormatError):
        read_component(PREAMBLE + tail)


def test_real_component_imports_and_exports(built_pricing: BuiltComponent):
    shape = read_component(built_pricing.data)
    names = [i.name for i in shape.imports if not i.bound]
    assert "wasi:filesystem/preopens@0.2.9" in names
    assert "wasi:sockets/tcp@0.2.9" in names
    assert names[-2:] == ["sandbench:platform/types@1.0.0", "sandbench:platform/host@1.0.0"]
    assert {i.name for i in shape.imports if i.bound} == {"request", "response", "failure"}
    assert ComponentExport("handle", "func") in shape.exports


def _imports_end(data: bytes) -> int:
    """Where the import sections end: the first core module section (id 1) of a component."""
    pos = 8
    while data[pos] != 1:
        size, step = 0, 0
        for shift, byte in enumerate(data[pos + 1 : pos + 6]):
            size |= (byte & 0x7F) << (7 * shift)
            step = shift + 1
            if not byte & 0x80:
                break
        pos += 1 + step + size
    return pos


def test_truncations_of_a_real_component_fail_cleanly(built_pricing: BuiltComponent):
    head = built_pricing.data[: _imports_end(built_pricing.data)]
    full = read_component(head)
    assert len(full.imports) == len(read_component(built_pricing.data).imports)
    outcomes = {"error": 0, "fewer": 0}
    for cut in range(8, len(head)):
        try:
            shape = read_component(head[:cut])
        except WasmFormatError:
            outcomes["error"] += 1
        else:  # cut on a section boundary: a shorter, well-formed component
            assert len(shape.imports) < len(full.imports)
            outcomes["fewer"] += 1
    assert outcomes["error"] > 0.9 * (len(head) - 8)
    assert outcomes["fewer"] > 0


def test_flipped_bytes_of_a_real_component_fail_cleanly(built_pricing: BuiltComponent):
    head = built_pricing.data[: _imports_end(built_pricing.data)]
    rng = random.Random(20261130)  # noqa: S311 - a reproducible fuzz, not a secret
    errors = 0
    for _ in range(2000):
        data = bytearray(head)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(8, len(data))] = rng.randrange(256)
        try:
            read_component(bytes(data))
        except WasmFormatError:
            errors += 1
    assert errors > 0


def test_file_reader_agrees_and_reads_only_what_it_needs(built_pricing: BuiltComponent):
    path = built_pricing.root / "module.wasm"
    assert read_component_file(path) == read_component(built_pricing.data)


def test_file_reader_refuses_links_devices_and_oversized_files(tmp_path):
    (tmp_path / "small.wasm").write_bytes(SMALL)
    (tmp_path / "link.wasm").symlink_to(tmp_path / "small.wasm")
    os.mkfifo(tmp_path / "fifo.wasm")  # opening it would block: it is never opened
    for name_ in ("link.wasm", "fifo.wasm"):
        with pytest.raises(ValueError, match="not a regular file"):
            read_component_file(tmp_path / name_)
    sparse = tmp_path / "huge.wasm"
    with sparse.open("wb") as handle:  # sparse: no disk, and the reader allocates nothing
        handle.write(SMALL)
        handle.truncate(MAX_BYTES + 1)
    with pytest.raises(WasmFormatError, match=f"component larger than {MAX_BYTES} bytes"):
        read_component_file(sparse)
    big_section = tmp_path / "big-section.wasm"
    with big_section.open("wb") as handle:
        handle.write(PREAMBLE + b"\x0a" + uleb(MAX_SECTION_BYTES + 1))
        handle.truncate(8 + 1 + 4 + MAX_SECTION_BYTES + 1)
    with pytest.raises(WasmFormatError, match=f"more than {MAX_SECTION_BYTES}"):
        read_component_file(big_section)
