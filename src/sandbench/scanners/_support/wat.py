"""Imports and exports of a WebAssembly text (`.wat`) module, read without compiling it.

A small S-expression reader: tokens (strings, atoms, parentheses, `;;` and `(; ;)`
comments), bounded in nesting depth and size, then the module's `import`, `export`, `type`
and inline `(import ...)` / `(export ...)` fields of `func`, `memory`, `table` and
`global`. Anything it does not understand raises `WasmFormatError`.

The work is linear in the size of the text: one pass of a tokenizing regex (no pattern
that backtracks), block comments skipped in the same pass (each character looked at once,
comments inside strings left alone), each form visited a bounded number of times.
"""

from __future__ import annotations

import re

from .wasm_binary import Export, FuncType, Import, WasmFormatError, WasmShape

__all__ = ["read_wat"]

MAX_CHARS = 16 * 1024 * 1024
MAX_DEPTH = 200
Node = str | list["Node"]
_TOKEN = re.compile(r'\(;|;;[^\n]*|\(|\)|"(?:[^"\\]|\\.)*"|[^\s()";]+|\s+', re.S)
_BLOCK_MARK = re.compile(r"\(;|;\)")
_FIELD_KINDS = ("func", "memory", "table", "global", "tag")


def _skip_block_comment(text: str, start: int) -> int:
    """The offset after the `(; ... ;)` comment opened at `start` (they nest)."""
    depth = 0
    for mark in _BLOCK_MARK.finditer(text, start):
        depth += 1 if mark.group() == "(;" else -1
        if depth == 0:
            return mark.end()
    raise WasmFormatError("unterminated (; block comment")


def _parse(text: str) -> list[Node]:
    stack: list[list[Node]] = [[]]
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise WasmFormatError(f"cannot read the text at offset {pos}")
        item, pos = match.group(), match.end()
        if item == "(;":
            pos = _skip_block_comment(text, pos - 2)
        elif item.isspace() or item.startswith(";;"):
            continue
        elif item == "(":
            if len(stack) > MAX_DEPTH:
                raise WasmFormatError(f"nested deeper than {MAX_DEPTH}")
            stack.append([])
        elif item == ")":
            if len(stack) == 1:
                raise WasmFormatError(f"unbalanced ')' at offset {pos - 1}")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(item)
    if len(stack) != 1:
        raise WasmFormatError("unbalanced '(': the text ends inside a form")
    return stack[0]


def _string(token: Node) -> str:
    if not isinstance(token, str) or not token.startswith('"'):
        raise WasmFormatError(f"expected a string, got {str(token)[:40]!r}")
    body, out, i = token[1:-1], bytearray(), 0
    while i < len(body):
        if body[i] == "\\":
            nxt = body[i + 1 : i + 3]
            simple = {"n": 10, "t": 9, "r": 13, '"': 34, "'": 39, "\\": 92}
            if nxt[:1] in simple:
                out.append(simple[nxt[:1]])
                i += 2
                continue
            try:
                out.append(int(nxt, 16))
            except ValueError:
                raise WasmFormatError(f"bad escape in {token[:40]!r}") from None
            i += 3
        else:
            out += body[i].encode()
            i += 1
    return out.decode("utf-8", errors="replace")


def _head(node: Node) -> str | None:
    return node[0] if isinstance(node, list) and node and isinstance(node[0], str) else None


def _signature(forms: list[Node], types: dict[str, FuncType]) -> FuncType:
    params: list[str] = []
    results: list[str] = []
    for form in forms:
        head = _head(form)
        if not isinstance(form, list):
            continue
        if head == "type" and len(form) > 1 and str(form[1]) in types:
            return types[str(form[1])]
        if head in ("param", "result"):
            names = [t for t in form[1:] if isinstance(t, str) and not t.startswith("$")]
            (params if head == "param" else results).extend(names)
    return FuncType(tuple(params), tuple(results))


def _typedefs(fields: list[Node]) -> dict[str, FuncType]:
    types: dict[str, FuncType] = {}
    for index, node in enumerate(f for f in fields if isinstance(f, list) and _head(f) == "type"):
        func = next((n for n in node[1:] if _head(n) == "func"), None)
        if isinstance(func, list):
            sig = _signature(func[1:], {})
            types[str(index)] = sig
            if isinstance(node[1], str) and node[1].startswith("$"):
                types[node[1]] = sig
    return types


def read_wat(text: str) -> WasmShape:
    """The imports and exports of a text module. Raises `WasmFormatError` on bad input."""
    if len(text) > MAX_CHARS:
        raise WasmFormatError(f"text larger than {MAX_CHARS} characters")
    top = _parse(text)
    module = next((n for n in top if _head(n) == "module"), None)
    fields = module[1:] if isinstance(module, list) else top
    types = _typedefs(fields)
    shape = WasmShape()
    funcs: dict[str, FuncType] = {}
    for node in fields:
        head = _head(node)
        if not isinstance(node, list):
            continue
        if head == "import" and len(node) >= 4 and isinstance(node[3], list):
            desc = node[3]
            kind = _head(desc) or "func"
            sig = _signature(desc[1:], types) if kind == "func" else None
            shape.imports.append(Import(_string(node[1]), _string(node[2]), kind, sig))
            _remember(desc, sig, funcs)
        elif head is not None and head in _FIELD_KINDS:
            _inline(node, head, types, shape, funcs)
    for node in fields:
        if _head(node) == "export" and len(node) >= 3 and isinstance(node[2], list):
            kind = _head(node[2]) or "func"
            ref = str(node[2][1]) if len(node[2]) > 1 else ""
            shape.exports.append(Export(_string(node[1]), kind, funcs.get(ref)))
    return shape


def _remember(node: list[Node], sig: FuncType | None, funcs: dict[str, FuncType]) -> None:
    if sig is not None and len(node) > 1 and isinstance(node[1], str) and node[1][:1] == "$":
        funcs[node[1]] = sig


def _inline(
    node: list[Node],
    kind: str,
    types: dict[str, FuncType],
    shape: WasmShape,
    funcs: dict[str, FuncType],
) -> None:
    sig = _signature(node[1:], types) if kind == "func" else None
    _remember(node, sig, funcs)
    for form in node[1:]:
        head = _head(form)
        if head == "export" and isinstance(form, list) and len(form) > 1:
            shape.exports.append(Export(_string(form[1]), kind, sig))
        elif head == "import" and isinstance(form, list) and len(form) > 2:
            shape.imports.append(Import(_string(form[1]), _string(form[2]), kind, sig))
