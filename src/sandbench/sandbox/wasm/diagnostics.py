"""wasmtime's error texts as one line that points at the author's file.

`wat2wasm` reports a syntax error as a caret diagram: "expected `)`", then
` --> <anon>:9:10`, the source line and a caret. The one-line form keeps the place:
`module.wat:9:10: expected `)``.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["wat_message"]

_PLACE = re.compile(r"-->\s*[^\n]*?:(\d+):(\d+)\s*$", re.MULTILINE)


def wat_message(text: str, entry: Path) -> str:
    """`text` (a `wat2wasm` error) as `FILE:LINE:COLUMN: what`, or its first line alone
    when it names no place."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    what = lines[0] if lines else "not valid WebAssembly text"
    place = _PLACE.search(text)
    if place is None:
        return f"{entry.name}: {what}"
    return f"{entry.name}:{place.group(1)}:{place.group(2)}: {what}"
