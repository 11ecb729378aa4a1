"""Inputs for the readers that grow with a factor `k`: every part an attacker can multiply
(imports, exports, sections' entries, permissions, calls on one line, comments) grows
with it, so that a reader doing work per pair (imports x permissions) or per byte per
item (copying a whole line for each call on it) shows as more than k times the work.

Used by tests/scanners/test_linear.py (counting work) and benchmarks/test_reader_linearity.py
(timing it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sandbench.manifests import ModulePackage, load

__all__ = ["BUILDERS", "component", "leb", "module_package", "wasm", "wat"]


def leb(n: int) -> bytes:
    """Unsigned LEB128."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _name(text: str) -> bytes:
    raw = text.encode()
    return leb(len(raw)) + raw


def _section(section_id: int, body: bytes) -> bytes:
    return bytes([section_id]) + leb(len(body)) + body


def wasm(k: int) -> bytes:
    """A core module: 10k host-function imports, 10k functions, 10k exports."""
    n = 10 * k
    types = _section(1, leb(1) + b"\x60\x01\x7f\x01\x7f")
    names = ["storage_read", "http_fetch", "db_query", "log", "nope"]
    imports = b"".join(
        _name("sandbench:host/v1" if i % 7 else "wasi_snapshot_preview1")
        + _name(names[i % 5] if i % 7 else f"path_open_{i}")
        + b"\x00\x00"
        for i in range(n)
    )
    funcs = _section(3, leb(n) + b"\x00" * n)
    exports = b"".join(_name(f"export_{i}") + b"\x00" + leb(i) for i in range(n))
    return (
        b"\x00asm\x01\x00\x00\x00"
        + types
        + _section(2, leb(n) + imports)
        + funcs
        + _section(7, leb(n) + exports)
    )


def component(k: int) -> bytes:
    """A component: 5k imported interfaces, 5k exported functions, 10k custom sections."""
    n = 5 * k
    imports = b"".join(b"\x00" + _name(f"wasi:io/x{i}@0.2.0") + b"\x05" + leb(i) for i in range(n))
    exports = b"".join(b"\x00" + _name(f"f{i}") + b"\x01" + leb(i) + b"\x00" for i in range(n))
    custom = _section(0, _name("c") + b"x" * 20) * (2 * n)
    return (
        b"\x00asm\x0d\x00\x01\x00"
        + custom
        + _section(10, leb(n) + imports)
        + _section(11, leb(n) + exports)
    )


def wat(k: int) -> str:
    """A text module: 10k imports and functions, nested block comments, line comments."""
    n = 10 * k
    fields = (
        f'(; c{i} (; nested ;) ;) (import "sandbench:host/v1" "log" (func $i{i} (type $t)))'
        f' ;; line {i}\n(func $f{i} (export "e{i}") (param i32) (result i32) local.get 0)'
        for i in range(n)
    )
    head = "(module (type $t (func (param i32) (result i32)))"
    return "\n".join([head, *fields, '(memory (export "memory") 1))'])


def python_source(k: int) -> str:
    """10k host calls and opens on one line (each quoted in a finding), 10k more lines."""
    n = 10 * k
    calls = "; ".join(
        f"g.storage_read('b{i % 50}', 'k'); open('/storage/b{i}/x', 'w')" for i in range(n)
    )
    lines = "\n".join(f"x{i} = g.http_fetch('GET', 'https://h{i}.example.com/p')" for i in range(n))
    return f"import sandbench_guest as g\n{calls}\n{lines}\n"


def module_package(root: Path, k: int, kind: str) -> ModulePackage:
    """A module folder for the capability scanner: a core module or a component built
    from `python_source`, with 2k permissions (half of which no import can use)."""
    root.mkdir(parents=True, exist_ok=True)
    n = 2 * k
    perms = [f"storage:read:b{i}" for i in range(n)] + [
        f"api:external:h{i}.example.com" for i in range(n)
    ]
    runtime: dict[str, str] = {"kind": "wasm", "entry": "module.wasm"}
    if kind == "component":
        runtime |= {"abi": "component", "source": "app.py"}
        (root / "module.wasm").write_bytes(component(1))
        (root / "app.py").write_text(python_source(k))
    else:
        (root / "module.wasm").write_bytes(wasm(k))
    manifest = {"name": "growing", "version": "1.0.0", "runtime": runtime}
    manifest["security"] = {"permissions": perms}  # type: ignore[assignment]
    (root / "module.json").write_text(json.dumps(manifest))
    return load(root)


BUILDERS: dict[str, Callable[[int], bytes | str]] = {
    "wasm_binary": wasm,
    "component_binary": component,
    "wat": wat,
    "pysource": python_source,
}
