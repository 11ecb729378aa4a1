"""The WASM binary and text readers: checked against wasmtime, and on hostile input."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import pytest
import wasmtime
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbench.scanners._support.wasm_binary import WasmFormatError, read_wasm
from sandbench.scanners._support.wat import read_wat
from tests.scanners.conftest import EXAMPLES
from tests.scanners.test_component_binary import uleb

# Core modules only: a Python example's module.wasm, when built here, is a component
# (tests/scanners/test_component_binary.py reads those).
ENTRIES = sorted(
    path
    for path in EXAMPLES.rglob("module.wa[st]")
    if json.loads((path.parent / "module.json").read_text())["runtime"].get("abi") != "component"
)
VENDAS = (EXAMPLES / "vendas" / "module.wasm").read_bytes()


def _binary(path: Path) -> bytes:
    return wasmtime.wat2wasm(path.read_text()) if path.suffix == ".wat" else path.read_bytes()


def _wasmtime_shape(data: bytes) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    module = wasmtime.Module(wasmtime.Engine(), data)

    def kind(t: object) -> str:
        return {"FuncType": "func", "MemoryType": "memory", "TableType": "table"}.get(
            type(t).__name__, "global"
        )

    imports = [(i.module, i.name or "", kind(i.type)) for i in module.imports]
    exports = [(e.name, kind(e.type)) for e in module.exports]
    return imports, exports


@pytest.mark.parametrize("path", ENTRIES, ids=lambda p: str(p.parent.relative_to(EXAMPLES)))
def test_binary_reader_agrees_with_wasmtime(path):
    data = _binary(path)
    shape = read_wasm(data)
    imports, exports = _wasmtime_shape(data)
    assert [(i.module, i.name, i.kind) for i in shape.imports] == imports
    assert [(e.name, e.kind) for e in shape.exports] == exports
    module = wasmtime.Module(wasmtime.Engine(), data)
    for ours, theirs in zip(shape.imports, module.imports, strict=True):
        if isinstance(theirs.type, wasmtime.FuncType):
            assert ours.type is not None
            assert list(ours.type.params) == [str(p) for p in theirs.type.params]
            assert list(ours.type.results) == [str(r) for r in theirs.type.results]


@pytest.mark.parametrize("path", [p for p in ENTRIES if p.suffix == ".wat"], ids=str)
def test_text_reader_agrees_with_the_binary_reader(path):
    text_shape = read_wat(path.read_text())
    binary_shape = read_wasm(wasmtime.wat2wasm(path.read_text()))
    assert text_shape.imports == binary_shape.imports
    assert sorted(text_shape.exports, key=str) == sorted(binary_shape.exports, key=str)


def test_signatures_of_reactor_exports():
    shape = read_wasm((EXAMPLES / "vendas-reactor" / "module.wasm").read_bytes())
    types = {e.name: str(e.type) for e in shape.exports if e.kind == "func"}
    assert types["sandbench_alloc"] == "(i32) -> (i32)"
    assert types["sandbench_handle"] == "(i32, i32) -> (i64)"


def test_text_reader_handles_type_uses_comments_and_escapes():
    text = r"""
    (; block (; nested ;) comment ;)
    (module
      (type $t (func (param i32) (result i64)))
      (import "sandbench:host/v1" "http\_fetch" (func (type $t)))  ;; odd escape
      (import "a\62" "c" (memory 1))
      (func $f (export "f") (param $x i32) (param i64 f32) (result i32) local.get 0)
      (export "g" (func $f)))
    """
    with pytest.raises(WasmFormatError, match="bad escape"):
        read_wat(text)
    shape = read_wat(text.replace(r"http\_fetch", "http_fetch"))
    assert [(i.module, i.name, i.kind, str(i.type)) for i in shape.imports] == [
        ("sandbench:host/v1", "http_fetch", "func", "(i32) -> (i64)"),
        ("ab", "c", "memory", "None"),
    ]
    assert {(e.name, str(e.type)) for e in shape.exports} == {
        ("f", "(i32, i64, f32) -> (i32)"),
        ("g", "(i32, i64, f32) -> (i32)"),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(module", "unbalanced '('"),
        ("(module))", "unbalanced ')'"),
        ("(; open", "unterminated"),
        ("(" * 500, "nested deeper"),
        ('(module (import 1 "x" (func)))', "expected a string"),
    ],
)
def test_text_reader_rejects_broken_text(text, message):
    with pytest.raises(WasmFormatError, match=re.escape(message)):
        read_wat(text)


HEADER = b"\x00asm\x01\x00\x00\x00"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "bad magic"),
        (b"(module)", "bad magic"),
        (b"\x00asm\x0d\x00\x01\x00", "unsupported binary version"),
        (HEADER + b"\x02\x05\xff\xff\xff\xff\x0f", "count 4294967295 exceeds"),
        (HEADER + b"\x02" + uleb(2**31), "runs past the end"),
        (HEADER + b"\x01\x80\x80\x80\x80\x80\x01", "LEB128 longer than 5 bytes"),
        (HEADER + b"\x01\x05\x80\x80\x80\x80\x10", "wider than 32 bits"),
        (HEADER + b"\x01\x04\x01\x61\x00\x00", "not a function type"),
        (HEADER + b"\x02\x06\x01\x01a\x01b\x00", "unexpected end"),
        (HEADER + b"\x02\x07\x01\x01a\x01b\x00\x05", "type index 5 out of range"),
        (HEADER + b"\x02\x07\x01\x01a\x01b\x09\x00", "unknown import kind"),
        (HEADER + b"\x07\x05\x01\x01\xff\x00\x00", "not UTF-8"),
        (VENDAS[: len(VENDAS) // 2], "runs past the end"),
        (HEADER + b"\x0b\x03\x01\x03\x00", "unknown data segment mode 3"),
        (HEADER + b"\x0b\x05\x01\x00\x41\x00\x0c", r"opcode 0xc in a constant expression"),
        (HEADER + b"\x0b\x06\x01\x00\x41\x00\x0b\x09", "length 9 exceeds"),
        (HEADER + b"\x0b\x43\x01\x00" + b"\x6a" * 65, "longer than 64 instructions"),
    ],
)
def test_binary_reader_rejects_broken_binaries(data, message):
    with pytest.raises(WasmFormatError, match=message):
        read_wasm(data)


def _well_formed(shape, size):
    """Whatever the reader accepts is bounded by the input and of known kinds."""
    assert len(shape.imports) + len(shape.exports) <= size
    assert {i.kind for i in shape.imports} <= {"func", "table", "memory", "global", "tag"}
    assert all((e.kind == "func") or e.type is None for e in shape.exports)
    assert all(offset > 0 and offset + length <= size for offset, length in shape.data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_binary_reader_raises_only_its_own_error_on_mutations(data):
    blob = bytearray(VENDAS)
    for _ in range(data.draw(st.integers(1, 8))):
        index = data.draw(st.integers(8, len(blob) - 1))
        blob[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(8, len(blob)))
    with contextlib.suppress(WasmFormatError):
        _well_formed(read_wasm(bytes(blob[:cut])), cut)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=256))
def test_binary_reader_on_random_sections(body):
    with contextlib.suppress(WasmFormatError):
        _well_formed(read_wasm(HEADER + body), len(body) + 8)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='()";$ \nabcimportexportfunc\\', max_size=200))
def test_text_reader_raises_only_its_own_error(text):
    with contextlib.suppress(WasmFormatError):
        _well_formed(read_wat(text), len(text))


def test_a_file_of_empty_sections_is_refused_at_the_section_cap():
    # 2 bytes per empty custom section: 150,001 of them would otherwise be read one by one.
    data = b"\x00asm\x01\x00\x00\x00" + b"\x00\x00" * 150_001
    with pytest.raises(WasmFormatError, match="more than 100000 sections"):
        read_wasm(data)
