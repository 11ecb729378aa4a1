"""Parsing of the manifest's unit strings into plain numbers.

Each parser takes what a manifest may hold (a string, or a number where a bare number is
meaningful) and returns an `int`, or raises `ValueError` with a sentence that says what
was expected. Pydantic turns those into `ManifestError` lines.

| kind | accepted | result |
|---|---|---|
| size | `256MB`, `512MiB`, `1GB`, `64Ki`, `1048576`, `10 kB` | bytes; SI (`kB MB GB TB`, powers of 1000) and IEC (`KiB MiB GiB TiB` or Kubernetes' `Ki Mi Gi Ti`, powers of 1024) |
| cpu | `250m`, `0.5`, `2`, `1.5` | millicores (`250m` -> 250, `2` -> 2000) |
| rate | `100req/min`, `5req/s`, `3600req/h`, `none` | `Rate` (count per period), or `None` for `none` |
| duration | `2s`, `500ms`, `1.5s`, `1m` | milliseconds |
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from pydantic import BaseModel, ConfigDict

__all__ = [
    "Rate",
    "format_bytes",
    "format_duration",
    "format_size",
    "parse_cpu",
    "parse_duration",
    "parse_rate",
    "parse_size",
]

_SIZE_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
    "ti": 1024**4,
}
_NUMBER = r"(\d+(?:\.\d+)?)"
# ASCII: `\d` would otherwise accept digits of any script, which the JSON Schema does not.
_SIZE_RE = re.compile(rf"^{_NUMBER}\s*([A-Za-z]*)$", re.ASCII)
_CPU_RE = re.compile(rf"^{_NUMBER}(m?)$", re.ASCII)
_RATE_RE = re.compile(r"^(\d+)\s*req\s*/\s*(s|sec|second|min|minute|h|hour)$", re.ASCII)
_DURATION_RE = re.compile(rf"^{_NUMBER}\s*(ms|s|m)$", re.ASCII)
_RATE_PERIODS = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000}

# Anything larger is certainly a typo, and bounding it keeps arithmetic on limits exact.
_MAX_BYTES = 1024**5
_MAX_MILLICORES = 1024 * 1000
_MAX_MS = 24 * 3600 * 1000
_MAX_REQUESTS = 10**9
# No valid quantity needs more characters; longer numbers would only cost time.
_MAX_CHARS = 64


class Rate(BaseModel):
    """A request rate: `requests` per `period_s` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: int
    period_s: int

    @property
    def per_second(self) -> float:
        """The rate as requests per second."""
        return self.requests / self.period_s

    def __str__(self) -> str:
        unit = {1: "s", 60: "min", 3600: "h"}[self.period_s]
        return f"{self.requests}req/{unit}"


def _number(value: object, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected {what}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected {what}")
    if isinstance(value, int) and abs(value) >= 10**_MAX_CHARS:
        raise ValueError(f"expected {what}")
    text = str(value).strip()
    if len(text) > _MAX_CHARS:
        raise ValueError(f"expected {what}")
    return text


def _scaled(number: str, factor: int) -> int:
    """`number * factor`, rounded up, in exact decimal arithmetic.

    With floats, `2.007s` would come out as 2008 ms and `4.03MB` one byte too large.
    """
    return math.ceil(Fraction(number) * factor)


def parse_size(value: object) -> int:
    """Parse a size (`256MB`, `512MiB`, `1Gi`, `1048576`) into bytes."""
    what = "a size such as 256MB, 512MiB or 1GB"
    match = _SIZE_RE.match(_number(value, what))
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _SIZE_UNITS:
        raise ValueError(f"expected {what}")
    result = _scaled(match.group(1), _SIZE_UNITS[unit])
    if not 0 < result <= _MAX_BYTES:
        raise ValueError(f"expected {what}, above 0 and at most 1PiB")
    return result


def parse_cpu(value: object) -> int:
    """Parse a CPU quantity (`250m`, `0.5`, `2`) into millicores."""
    what = "a CPU quantity such as 250m, 0.5 or 2 (cores)"
    match = _CPU_RE.match(_number(value, what))
    if match is None:
        raise ValueError(f"expected {what}")
    result = _scaled(match.group(1), 1 if match.group(2) else 1000)
    if not 0 < result <= _MAX_MILLICORES:
        raise ValueError(f"expected {what}, above 0 and at most 1024 cores")
    return result


def parse_rate(value: object) -> Rate | None:
    """Parse a request rate (`100req/min`, `5req/s`) or `none` (no requests allowed)."""
    what = "a rate such as 100req/min or 5req/s, or none"
    text = _number(value, what)
    if text.lower() == "none":
        return None
    match = _RATE_RE.match(text)
    if match is None:
        raise ValueError(f"expected {what}")
    count = int(match.group(1))
    if not 0 < count <= _MAX_REQUESTS:
        raise ValueError(f"expected {what}, with a count from 1 to {_MAX_REQUESTS:,}")
    return Rate(requests=count, period_s=_RATE_PERIODS[match.group(2)])


def parse_duration(value: object) -> int:
    """Parse a duration (`2s`, `500ms`, `1m`) into milliseconds."""
    what = "a duration such as 2s or 500ms"
    match = _DURATION_RE.match(_number(value, what))
    if match is None:
        raise ValueError(f"expected {what}")
    result = _scaled(match.group(1), _DURATION_MS[match.group(2)])
    if not 0 < result <= _MAX_MS:
        raise ValueError(f"expected {what}, above 0 and at most 24h")
    return result


def format_bytes(n: int) -> str:
    """Format a byte count for people (`268435456` -> `256.0 MiB`)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


_EXACT_SIZES = (
    ("TiB", 1024**4),
    ("GiB", 1024**3),
    ("MiB", 1024**2),
    ("KiB", 1024),
    ("TB", 1000**4),
    ("GB", 1000**3),
    ("MB", 1000**2),
    ("kB", 1000),
)


def format_size(n: int) -> str:
    """A byte count as a manifest size that `parse_size` reads back exactly.

    The unit, SI or IEC, that divides `n` into the smallest number (`67108864` -> `64MiB`,
    `16000000` -> `16MB`); bytes (`1234B`) only when no unit divides it.
    """
    exact = [
        (n // factor, unit) for unit, factor in _EXACT_SIZES if n >= factor and n % factor == 0
    ]
    count, unit = min(exact, default=(n, "B"))
    return f"{count}{unit}"


def format_duration(ms: int) -> str:
    """Milliseconds as a manifest duration that `parse_duration` reads back (`2000` -> `2s`)."""
    return f"{ms // 1000}s" if ms >= 1000 and ms % 1000 == 0 else f"{ms}ms"
