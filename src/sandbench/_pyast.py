"""`parse`: `ast.parse`, one at a time in this process.

CPython 3.11 (3.11.7 on fresh machines here) keeps the AST converter's recursion depth in
per-interpreter state; a thread switch while one thread builds its tree (a garbage
collection running a `__del__`, say) lets another thread's parse change it, and one of
them fails with `SystemError: AST constructor recursion depth mismatch`. The scanners and
`sandbench build` parse module sources from several threads at once, so every parse in
sandbench goes through this lock. Parsing is fast (about 1 ms for a 1,000-line file);
serializing it costs the scanners nothing measurable.
"""

from __future__ import annotations

import ast
import threading

__all__ = ["literal_eval", "parse"]

_LOCK = threading.Lock()


def parse(source: str | bytes, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse(source, filename)` under the process-wide lock.

    Raises what `ast.parse` raises: `SyntaxError`, `ValueError` (null bytes, bad
    encoding), `RecursionError` or `MemoryError` (nesting deeper than CPython allows).
    """
    with _LOCK:
        return ast.parse(source, filename=filename)


def literal_eval(node_or_source: ast.AST | str) -> object:
    """`ast.literal_eval` under the same lock (given a string, it parses one).

    Raises what `ast.literal_eval` raises: `ValueError`, `TypeError`, `SyntaxError`,
    `RecursionError` or `MemoryError`.
    """
    with _LOCK:
        return ast.literal_eval(node_or_source)
