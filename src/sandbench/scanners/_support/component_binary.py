"""A small reader for a WebAssembly component's top-level imports and exports.

Like `wasm_binary` it never loads or runs anything, and its input is hostile: every count
and length is checked against the bytes that remain before anything is allocated, the
number of sections and of entries and the size of an import or export section are capped,
and any inconsistency raises `WasmFormatError` naming the section and the file offset.
From a file only the section headers and the import and export sections are read.

The component binary format (WebAssembly/component-model, design/mvp/Binary.md):

- preamble `\\0asm`, version `0x0d 0x00`, layer `0x01 0x00` (a core module has layer 0);
- sections: an id byte, a u32 LEB128 size, the body; only the top level is read, nested
  core modules (1) and components (4) are skipped by length like every other section;
- import section (10): `vec(importname' externdesc)`;
- export section (11): `vec(exportname' sortidx externdesc?)`;
- a name is `0x00 len bytes`. wasm-tools encoders before September 2024 wrote `0x01` for
  interface names (`wasi:io/poll@0.2.9`); wasmtime 50 still reads `0x01` as a plain name
  (measured) and refuses the later draft's `0x01 name versionsuffix`, so this reader does
  the same: it judges what the sandbox will load.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from .wasm_binary import MAGIC, MAX_BYTES, MAX_SECTIONS, WasmFormatError, _Reader

__all__ = [
    "ComponentExport",
    "ComponentImport",
    "ComponentShape",
    "is_component",
    "read_component",
    "read_component_file",
]

VERSION = b"\x0d\x00"
LAYER = b"\x01\x00"
MAX_ENTRIES = 10_000
MAX_SECTION_BYTES = 16 * 1024 * 1024  # an import or export section; pricing-py's are < 100 B
_MAX_HEADER = 6  # the id byte and a u32 LEB128 of at most 5 bytes
_IMPORT_SECTION = 10
_EXPORT_SECTION = 11
_SORTS = {0x01: "func", 0x02: "value", 0x03: "type", 0x04: "component", 0x05: "instance"}
_CORE_MODULE_SORT = 0x11
# Primitive value types are single bytes 0x73 (string) to 0x7f (bool); anything else
# in a valtype is a type index.
_PRIMITIVES = range(0x73, 0x80)
_T = TypeVar("_T")


@dataclass(frozen=True)
class ComponentImport:
    """One top-level import: its name and kind (module, func, value, type, component,
    instance). `bound` is True for a type import bound to an existing type (`(eq i)`),
    which nothing needs to provide."""

    name: str
    kind: str
    bound: bool = False


@dataclass(frozen=True)
class ComponentExport:
    """One top-level export: its name and kind (module, func, value, type, component, instance)."""

    name: str
    kind: str


@dataclass
class ComponentShape:
    """What the reader found at the component's top level."""

    imports: list[ComponentImport] = field(default_factory=list)
    exports: list[ComponentExport] = field(default_factory=list)


def is_component(data: bytes) -> bool:
    """True when `data` starts like a component (magic, then the component layer)."""
    return data[:4] == MAGIC and data[6:8] == LAYER


def read_component(data: bytes) -> ComponentShape:
    """Read the top-level imports and exports of a component held in memory.

    Raises `WasmFormatError` for anything but a well-formed component preamble and
    well-formed import and export sections.
    """
    if len(data) > MAX_BYTES:
        raise WasmFormatError(f"component larger than {MAX_BYTES} bytes")
    return _read(lambda offset, size: data[offset : offset + size], len(data))


def read_component_file(path: Path) -> ComponentShape:
    """Like `read_component`, reading from `path` only the preamble, the section headers
    and the import and export sections (a Python component is ~18 MB, nearly all of it
    core modules). Raises `ValueError` (`WasmFormatError`) for a link, a device or bad
    content, `OSError` when it cannot be read."""
    if not stat.S_ISREG(path.lstat().st_mode):
        raise ValueError(f"{path.name} is not a regular file")
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_BYTES:
            raise WasmFormatError(f"component larger than {MAX_BYTES} bytes")

        def read_at(offset: int, length: int) -> bytes:
            handle.seek(offset)
            return handle.read(length)

        return _read(read_at, size)


def _read(read_at: Callable[[int, int], bytes], size: int) -> ComponentShape:
    preamble = read_at(0, 8)
    if not is_component(preamble):
        raise WasmFormatError("not a WebAssembly component (bad magic or layer)")
    if preamble[4:6] != VERSION:
        raise WasmFormatError(
            f"unsupported component binary version {preamble[4:6].hex()} (expected 0d00)"
        )
    shape = ComponentShape()
    pos, sections = 8, 0
    while pos < size:
        sections += 1
        if sections > MAX_SECTIONS:
            raise WasmFormatError(f"more than {MAX_SECTIONS} sections")
        header = read_at(pos, _MAX_HEADER)
        head = _Reader(header, 0, len(header), "header", base=pos)
        section_id = head.byte()
        length = head.uleb()
        start = pos + head.pos
        if length > size - start:
            raise head.fail(f"section {section_id} size {length} runs past the end")
        if section_id in (_IMPORT_SECTION, _EXPORT_SECTION):
            _section(read_at, start, length, section_id, shape)
        pos = start + length
    return shape


def _section(
    read_at: Callable[[int, int], bytes],
    start: int,
    length: int,
    section_id: int,
    shape: ComponentShape,
) -> None:
    if length > MAX_SECTION_BYTES:
        raise WasmFormatError(
            f"section {section_id}, offset {start}: {length} bytes, more than {MAX_SECTION_BYTES}"
        )
    body = _Reader(read_at(start, length), 0, length, f"section {section_id}", base=start)
    seen = len(shape.imports) + len(shape.exports)
    if section_id == _IMPORT_SECTION:
        _entries(body, shape.imports, _import, seen)
    else:
        _entries(body, shape.exports, _export, seen)


def _entries(r: _Reader, into: list[_T], read: Callable[[_Reader], _T], seen: int) -> None:
    # An import takes at least 4 bytes (name tag, length, kind, index); an export 4 too.
    count = r.count(4)
    if seen + count > MAX_ENTRIES:
        raise r.fail(f"more than {MAX_ENTRIES} imports and exports")
    into.extend(read(r) for _ in range(count))
    if r.pos != r.end:
        raise r.fail(f"{r.end - r.pos} bytes left over after {count} entries")


def _name(r: _Reader) -> str:
    tag = r.byte()
    if tag not in (0x00, 0x01):
        raise r.fail(f"bad name tag {tag:#x} (expected 0x00)")
    name = r.name()
    if not name:
        raise r.fail("empty import or export name")
    return name


def _import(r: _Reader) -> ComponentImport:
    name = _name(r)
    kind, bound = _externdesc(r)
    return ComponentImport(name, kind, bound)


def _export(r: _Reader) -> ComponentExport:
    name = _name(r)
    kind = _sort(r)
    r.uleb()  # the index of what is exported
    ascribed = r.byte()
    if ascribed == 0x01:
        _externdesc(r)
    elif ascribed != 0x00:
        raise r.fail(f"bad optional type tag {ascribed:#x}")
    return ComponentExport(name, kind)


def _sort(r: _Reader) -> str:
    code = r.byte()
    if code == 0x00:
        core = r.byte()
        if core != _CORE_MODULE_SORT:
            raise r.fail(f"core sort {core:#x} cannot be imported or exported by a component")
        return "module"
    kind = _SORTS.get(code)
    if kind is None:
        raise r.fail(f"unknown sort {code:#x}")
    return kind


def _externdesc(r: _Reader) -> tuple[str, bool]:
    """The kind, and whether a type import is bound to an existing type."""
    kind = _sort(r)
    if kind == "type":
        bound = r.byte()
        if bound == 0x00:
            r.uleb()
            return kind, True
        if bound != 0x01:  # 0x01: (sub resource), a fresh abstract type
            raise r.fail(f"bad type bound {bound:#x}")
        return kind, False
    if kind == "value":
        bound = r.byte()
        if bound == 0x00:
            r.uleb()
        elif bound == 0x01:
            if r.byte() not in _PRIMITIVES:
                r.pos -= 1
                r.uleb()
        else:
            raise r.fail(f"bad value bound {bound:#x}")
        return kind, False
    r.uleb()  # the type index of a module, func, component or instance
    return kind, False
