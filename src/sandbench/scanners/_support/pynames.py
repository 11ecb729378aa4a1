"""The dotted name a Python expression calls, seen through the usual ways of hiding it.

`os.system`, `getattr(os, "system")`, `os.__dict__["system"]`,
`os.__getattribute__("system")`, `__import__("os").system`,
`importlib.import_module("os").system`, `vars(__builtins__)["exec"]`,
`globals()["__builtins__"].exec` and any of them followed by `.__call__` all name the
same function, also when the name is spelled in pieces (`"ex" + "ec"`, `"cexe"[::-1]`); malware uses the indirect forms so that a search for the direct one misses
it. `qualname` resolves them all (through the file's import aliases) and `hidden` says
whether an indirect form was used, which is itself a signal when the target runs code.
"""

from __future__ import annotations

import ast

__all__ = ["hidden", "qualname"]

_BUILTINS = ("builtins.", "__builtins__.")
_IMPORTERS = {"__import__", "importlib.import_module", "importlib.__import__"}
_NAMESPACES = {"vars", "globals", "locals"}


def _constant(node: ast.AST | None, depth: int = 0) -> str | None:
    """The string `node` always evaluates to: a literal, or one computed from literals
    the way malware spells a name in pieces (`"ex" + "ec"`, `"".join(["ex", "ec"])`,
    `"cexe"[::-1]`, `chr(101)`, an f-string of literals); None for anything else."""
    if depth > 32 or node is None:
        return None
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _constant(node.left, depth + 1), _constant(node.right, depth + 1)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = [_constant(v.value if isinstance(v, ast.FormattedValue) else v, depth + 1)
                 for v in node.values]  # fmt: skip
        return "".join(p for p in parts if p is not None) if None not in parts else None
    if isinstance(node, ast.Subscript) and _reversing(node.slice):
        text = _constant(node.value, depth + 1)
        return text[::-1] if text is not None else None
    if isinstance(node, ast.Call):
        return _constant_call(node, depth)
    return None


def _reversing(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Slice)
        and node.lower is None
        and node.upper is None
        and isinstance(node.step, ast.UnaryOp)
        and isinstance(node.step.op, ast.USub)
        and isinstance(node.step.operand, ast.Constant)
        and node.step.operand.value == 1
    )


def _constant_call(node: ast.Call, depth: int) -> str | None:
    """`chr(N)` and `SEP.join([literals])` of literals."""
    func, args = node.func, node.args
    if isinstance(func, ast.Name) and func.id == "chr" and len(args) == 1:
        code = args[0]
        if isinstance(code, ast.Constant) and isinstance(code.value, int):
            return chr(code.value) if 0 <= code.value < 0x110000 else None
    if isinstance(func, ast.Attribute) and func.attr == "join" and len(args) == 1:
        sep, items = _constant(func.value, depth + 1), args[0]
        if sep is not None and isinstance(items, ast.List | ast.Tuple):
            parts = [_constant(item, depth + 1) for item in items.elts]
            return sep.join(p for p in parts if p is not None) if None not in parts else None
    return None


def _member(base: ast.AST, key: str | None, aliases: dict[str, str]) -> str | None:
    """`base[key]` or `base.get(key)` where base is a namespace (`X.__dict__`, `vars(X)`,
    `globals()`)."""
    if key is None:
        return None
    if isinstance(base, ast.Attribute) and base.attr == "__dict__":
        return f"{qualname(base.value, aliases)}.{key}"
    if isinstance(base, ast.Call) and qualname(base.func, aliases) in _NAMESPACES:
        owner = qualname(base.args[0], aliases) if base.args else ""
        return f"{owner}.{key}" if owner and owner != "?" else key
    return None


def _indirect_call(call: ast.Call, aliases: dict[str, str]) -> str | None:
    func = call.func
    first = _constant(call.args[0]) if call.args else None
    name = qualname(func, aliases)
    if name in _IMPORTERS and first:
        return first
    if name == "getattr" and len(call.args) == 2:
        attr = _constant(call.args[1])
        return f"{qualname(call.args[0], aliases)}.{attr}" if attr else None
    if isinstance(func, ast.Attribute) and func.attr == "__getattribute__" and first:
        return f"{qualname(func.value, aliases)}.{first}"
    if isinstance(func, ast.Attribute) and func.attr == "get":
        return _member(func.value, first, aliases)
    return None


def _strip_builtins(name: str) -> str:
    for prefix in _BUILTINS:
        if name.startswith(prefix):
            return name.removeprefix(prefix)
    return name


def qualname(node: ast.AST, aliases: dict[str, str]) -> str:
    """The dotted name `node` refers to (`"?"` when it is not a name); a call's result is
    the callee's name with `()` appended, except for the indirect forms above."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        if node.attr == "__call__":
            return qualname(node.value, aliases)
        return _strip_builtins(f"{qualname(node.value, aliases)}.{node.attr}")
    if isinstance(node, ast.Subscript):
        found = _member(node.value, _constant(node.slice), aliases)
        return _strip_builtins(found) if found else "?"
    if isinstance(node, ast.Call):
        found = _indirect_call(node, aliases)
        return _strip_builtins(found) if found else qualname(node.func, aliases) + "()"
    return "?"


def hidden(node: ast.AST, aliases: dict[str, str]) -> bool:
    """True when the callee `node` is reached through one of the indirect forms."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Subscript) and _member(sub.value, _constant(sub.slice), aliases):
            return True
        if isinstance(sub, ast.Call) and _indirect_call(sub, aliases):
            return True
        if isinstance(sub, ast.Attribute) and sub.attr in ("__call__", "__dict__"):
            return True
    return False
