"""Showing untrusted text (names from archives, manifests, binaries) in one safe line.

A name can hold a newline (which would split one error into two lines), an ANSI escape
sequence (which would rewrite the terminal), a lone surrogate (which no encoder accepts)
or 64 MiB of anything. `shown` turns all of that into a short, printable, one-line quote.
"""

from __future__ import annotations

__all__ = ["MAX_SHOWN", "clipped", "printable", "shown", "shown_bytes"]

MAX_SHOWN = 80


def printable(text: str) -> str:
    """`text` with every non-printable character escaped (`\\n`, `\\x1b`, `\\ud800`).

    Linear in the length of `text`; printable text is returned as it is.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def clipped(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` escaped and cut to at most about `limit` characters (the middle elided, the
    length said). Only the ends of a long text are looked at, so a huge name costs nothing."""
    if len(text) <= limit:
        body = printable(text)
        if len(body) <= limit:
            return body
    half = max(limit // 2 - 2, 1)
    head = printable(text[:half])[:half]
    tail = printable(text[-half:])[-half:]
    return f"{head}...{tail} ({len(text)} characters)"


def shown(text: str, limit: int = MAX_SHOWN) -> str:
    """`clipped(text)` in quotes: `'name'`, `'a\\nb'`, `'aaa...aaa' (67108864 characters)`."""
    body = clipped(text, limit)
    if body.endswith(" characters)") and len(text) > limit:
        cut, _, count = body.rpartition(" (")
        return f"'{cut}' ({count}"
    return f"'{body}'"


def shown_bytes(raw: bytes, limit: int = MAX_SHOWN) -> str:
    """Like `shown`, for a name that is not (or not yet) text: invalid UTF-8 is escaped."""
    cut = raw if len(raw) <= limit * 4 else raw[: limit * 2] + b"..." + raw[-limit * 2 :]
    text = cut.decode("utf-8", "backslashreplace")
    result = shown(text, limit)
    return result if cut is raw else f"{result.rsplit(' (', 1)[0]} ({len(raw)} bytes)"
