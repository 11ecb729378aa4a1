"""A small reader for a WebAssembly binary's type, import, function, export and data sections.

It never loads or runs the module (wasmtime stays in the sandbox). Input is hostile: every
count and length is checked against the bytes that remain before anything is allocated,
LEB128 numbers are bounded to their width, and any inconsistency raises `WasmFormatError`
naming the section and offset. Sections other than 1, 2, 3, 7 and 11 are skipped by
length. Of the data section (11) only where each segment's bytes lie is kept (file offset
and length, nothing copied): the malware scan reads them (`malware_wasm`).

The work is linear in the size of the file: each byte is read once, nothing is copied
twice. As the core specification requires (and wasmtime enforces), a non-custom section
may appear once and in the order type, import, function, table, memory, tag, global,
export, start, element, data count, code, data; an unknown section id, a repeated or
out-of-order section and a read section with bytes left over are refused at once
(20,000 function sections used to take 80 s to read; wasmtime refuses them in 7 ms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Export", "FuncType", "Import", "WasmFormatError", "WasmShape", "read_wasm"]

MAGIC = b"\x00asm"
CORE_VERSION = b"\x01\x00\x00\x00"
MAX_BYTES = 256 * 1024 * 1024
MAX_SECTIONS = 100_000  # a real module has a few dozen (custom sections included)
_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
_VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128"}
_REFTYPES = {0x70: "funcref", 0x6F: "externref"}
# Section id -> its rank in the order the specification requires (custom sections, 0, go
# anywhere): type, import, function, table, memory, tag, global, export, start, element,
# data count, code, data.
_ORDER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}


class WasmFormatError(ValueError):
    """The bytes are not a well-formed module; the message names where reading stopped."""


@dataclass(frozen=True)
class FuncType:
    """A function signature: parameter and result value types."""

    params: tuple[str, ...]
    results: tuple[str, ...]

    def __str__(self) -> str:
        return f"({', '.join(self.params)}) -> ({', '.join(self.results)})"


@dataclass(frozen=True)
class Import:
    """One import: module, name, kind (func, table, memory, global, tag) and type if a func."""

    module: str
    name: str
    kind: str
    type: FuncType | None = None


@dataclass(frozen=True)
class Export:
    """One export: name, kind and, for a function, its signature."""

    name: str
    kind: str
    type: FuncType | None = None


@dataclass
class WasmShape:
    """What the reader found."""

    imports: list[Import] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    data: list[tuple[int, int]] = field(default_factory=list)  # segments: (file offset, length)


class _Reader:
    # `base`: where `data` starts in the file, so that offsets in errors are file offsets.
    def __init__(self, data: bytes, start: int, end: int, section: str, base: int = 0) -> None:
        self.data, self.pos, self.end, self.section = data, start, end, section
        self.base = base

    def fail(self, what: str) -> WasmFormatError:
        return WasmFormatError(f"{self.section}, offset {self.base + self.pos}: {what}")

    def byte(self) -> int:
        if self.pos >= self.end:
            raise self.fail("unexpected end")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uleb(self, bits: int = 32) -> int:
        result = shift = 0
        for _ in range((bits + 6) // 7):
            value = self.byte()
            result |= (value & 0x7F) << shift
            if not value & 0x80:
                if result >> bits:
                    raise self.fail(f"integer wider than {bits} bits")
                return result
            shift += 7
        raise self.fail(f"LEB128 longer than {(bits + 6) // 7} bytes")

    def count(self, min_item_bytes: int = 1) -> int:
        # Each item takes at least `min_item_bytes`: a count larger than what is left is a lie.
        n = self.uleb()
        if n * min_item_bytes > self.end - self.pos:
            raise self.fail(f"count {n} exceeds the {self.end - self.pos} bytes left")
        return n

    def bytes_(self, n: int) -> bytes:
        if n > self.end - self.pos:
            raise self.fail(f"length {n} exceeds the {self.end - self.pos} bytes left")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def name(self) -> str:
        raw = self.bytes_(self.uleb())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("name is not UTF-8") from None

    def limits(self, memory: bool) -> None:
        flags = self.byte()
        if flags & ~0x07:
            raise self.fail(f"bad limits flags {flags:#x}")
        bits = 64 if memory and flags & 0x04 else 32
        self.uleb(bits)
        if flags & 0x01:
            self.uleb(bits)


def _types(r: _Reader) -> list[FuncType]:
    types = []
    for _ in range(r.count(3)):
        form = r.byte()
        if form != 0x60:
            raise r.fail(f"type form {form:#x} is not a function type (GC types unsupported)")
        params = tuple(_valtype(r) for _ in range(r.count()))
        results = tuple(_valtype(r) for _ in range(r.count()))
        types.append(FuncType(params, results))
    return types


def _valtype(r: _Reader) -> str:
    code = r.byte()
    name = _VALTYPES.get(code) or _REFTYPES.get(code)
    if name is None:
        raise r.fail(f"unknown value type {code:#x}")
    return name


def _type_at(r: _Reader, types: list[FuncType], index: int) -> FuncType:
    if index >= len(types):
        raise r.fail(f"type index {index} out of range ({len(types)} types)")
    return types[index]


def _imports(r: _Reader, types: list[FuncType], shape: WasmShape) -> list[FuncType]:
    funcs: list[FuncType] = []
    for _ in range(r.count(4)):
        module, name, code = r.name(), r.name(), r.byte()
        kind = _KINDS.get(code)
        sig: FuncType | None = None
        if kind == "func":
            sig = _type_at(r, types, r.uleb())
            funcs.append(sig)
        elif kind == "table":
            if r.byte() not in _REFTYPES:
                raise r.fail("bad table element type")
            r.limits(memory=False)
        elif kind == "memory":
            r.limits(memory=True)
        elif kind == "global":
            _valtype(r)
            if r.byte() > 1:
                raise r.fail("bad global mutability")
        elif kind == "tag":
            r.byte()
            _type_at(r, types, r.uleb())
        else:
            raise r.fail(f"unknown import kind {code:#x}")
        shape.imports.append(Import(module, name, kind, sig))
    return funcs


def read_wasm(data: bytes) -> WasmShape:
    """Read the imports and exports of a module. Raises `WasmFormatError` on bad input."""
    if len(data) > MAX_BYTES:
        raise WasmFormatError(f"module larger than {MAX_BYTES} bytes")
    if data[:4] != MAGIC:
        raise WasmFormatError("not a WebAssembly binary (bad magic; a component or .wat?)")
    if data[4:8] != CORE_VERSION:
        raise WasmFormatError(f"unsupported binary version {data[4:8].hex()} (a component?)")
    state = _State()
    pos, sections = 8, 0
    while pos < len(data):
        sections += 1
        if sections > MAX_SECTIONS:  # a file of empty sections must not loop for minutes
            raise WasmFormatError(f"more than {MAX_SECTIONS} sections")
        head = _Reader(data, pos, len(data), "header")
        section_id = head.byte()
        size = head.uleb()
        body = _Reader(data, head.pos, head.pos + size, f"section {section_id}")
        if body.end > len(data):
            raise head.fail(f"section {section_id} size {size} runs past the end")
        state.order(section_id, pos)
        state.section(section_id, body)
        pos = body.end
    for name, kind, index in state.exports:
        sig = state.funcs[index] if kind == "func" and index < len(state.funcs) else None
        state.shape.exports.append(Export(name, kind, sig))
    return state.shape


@dataclass
class _State:
    shape: WasmShape = field(default_factory=WasmShape)
    types: list[FuncType] = field(default_factory=list)
    funcs: list[FuncType] = field(default_factory=list)
    exports: list[tuple[str, str, int]] = field(default_factory=list)
    rank: int = 0

    def order(self, section_id: int, offset: int) -> None:
        """Refuse an unknown, repeated or out-of-order section (custom ones go anywhere)."""
        if section_id == 0:
            return
        rank = _ORDER.get(section_id)
        if rank is None:
            raise WasmFormatError(f"offset {offset}: unknown section id {section_id}")
        if rank <= self.rank:
            raise WasmFormatError(f"offset {offset}: section {section_id} repeated or out of order")
        self.rank = rank

    def section(self, section_id: int, body: _Reader) -> None:
        if section_id == 1:
            self.types = _types(body)
        elif section_id == 2:
            self.funcs = _imports(body, self.types, self.shape)
        elif section_id == 3:
            count = body.count()
            self.funcs.extend(_type_at(body, self.types, body.uleb()) for _ in range(count))
        elif section_id == 7:
            self.exports = [(body.name(), _kind(body), body.uleb()) for _ in range(body.count(3))]
        elif section_id == 11:
            self.shape.data = [_segment(body) for _ in range(body.count(2))]
        else:
            return
        if body.pos != body.end:
            raise body.fail(f"{body.end - body.pos} bytes left over at the end of the section")


def _kind(r: _Reader) -> str:
    code = r.byte()
    kind = _KINDS.get(code)
    if kind is None:
        raise r.fail(f"unknown export kind {code:#x}")
    return kind


# Opcodes a constant expression (a data segment's offset) may hold, and what follows each:
# i32.const / i64.const (a signed LEB128), global.get (an index), the extended-const
# arithmetic (nothing); `end` (0x0B) closes it.
_CONST_OPS = {0x41: 32, 0x42: 64, 0x23: 32, 0x6A: 0, 0x6B: 0, 0x6C: 0, 0x7C: 0, 0x7D: 0, 0x7E: 0}


def _segment(r: _Reader) -> tuple[int, int]:
    """One data segment: active (mode 0, or 2 with a memory index, then an offset
    expression) or passive (mode 1); returns where its bytes are in the file."""
    mode = r.uleb()
    if mode not in (0, 1, 2):
        raise r.fail(f"unknown data segment mode {mode}")
    if mode == 2:
        r.uleb()
    if mode != 1:
        _const_expr(r)
    length = r.uleb()
    start = r.pos
    r.bytes_(length)
    return r.base + start, length


def _const_expr(r: _Reader) -> None:
    for _ in range(64):  # a real offset is one or two instructions
        op = r.byte()
        if op == 0x0B:
            return
        bits = _CONST_OPS.get(op)
        if bits is None:
            raise r.fail(f"opcode {op:#x} in a constant expression")
        if bits:
            _sleb(r, bits)
    raise r.fail("constant expression longer than 64 instructions")


def _sleb(r: _Reader, bits: int) -> None:
    for _ in range((bits + 6) // 7):
        if not r.byte() & 0x80:
            return
    raise r.fail(f"LEB128 longer than {(bits + 6) // 7} bytes")
