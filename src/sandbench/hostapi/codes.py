"""The status codes every capability returns (docs/abi.md, "Host API").

A call returns a non-negative number on success (bytes written, rows affected, or 0) and
one of these negative codes on failure. The numbers are part of ABI version 1.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Code", "HostResult"]


class Code(IntEnum):
    """Why a host call failed; `OK` (0) is the only success code."""

    OK = 0
    DENIED = -1
    NOT_FOUND = -2
    QUOTA = -3
    RATE = -4
    TOO_LARGE = -5
    BAD_ARGUMENT = -6
    FAILED = -7
    BUFFER_TOO_SMALL = -8
    TIMEOUT = -9

    @property
    def label(self) -> str:
        """The code's name as reports show it: `denied`, `not-found`, ..."""
        return self.name.lower().replace("_", "-")


class HostResult:
    """What a capability returns: a code, and on success the bytes or a count for the guest."""

    __slots__ = ("code", "data", "value")

    def __init__(self, code: Code = Code.OK, data: bytes = b"", value: int = 0) -> None:
        self.code = code
        self.data = data
        self.value = value

    @property
    def ok(self) -> bool:
        """True on success."""
        return self.code is Code.OK

    def __repr__(self) -> str:
        return f"HostResult({self.code.label}, {len(self.data)} bytes, value={self.value})"
