"""SSH wire encoding (RFC 4251 `string`, `uint32`, `mpint`) and the error for bad SSH data.

Format parsing only; the cryptography is the `cryptography` package's (sshkeys.py).
"""

from __future__ import annotations

import struct

__all__ = ["Reader", "SignatureError", "mpint", "string"]


class SignatureError(ValueError):
    """A signature, key or key file is malformed or unsupported; the message says how."""


class Reader:
    """Decodes SSH wire data; every short read is a `SignatureError`, never an IndexError."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, size: int) -> bytes:
        """The next `size` bytes. Raises `SignatureError("truncated")` past the end."""
        if size > len(self.data) - self.at:
            raise SignatureError("truncated")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def uint32(self) -> int:
        """A big-endian uint32."""
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def string(self) -> bytes:
        """A uint32 length and that many bytes."""
        return self.take(self.uint32())

    def text(self) -> str:
        """A name (key type, hash algorithm): printable ASCII, since messages show it."""
        data = self.string()
        if not all(0x21 <= byte <= 0x7E for byte in data):
            raise SignatureError("a name field is not printable ASCII")
        return data.decode("ascii")

    def positive_mpint(self) -> int:
        """An `mpint` that must be positive (ECDSA's r and s). Raises `SignatureError`."""
        value = int.from_bytes(self.string(), "big", signed=True)
        if value <= 0:
            raise SignatureError("an ECDSA signature number is not positive")
        return value

    def end(self) -> None:
        """Raises `SignatureError` unless every byte was read."""
        if self.at != len(self.data):
            raise SignatureError("trailing bytes after the end")


def string(data: bytes) -> bytes:
    """`data` as an SSH `string`."""
    return struct.pack(">I", len(data)) + data


def mpint(value: int) -> bytes:
    """A non-negative integer as an SSH `mpint` (a leading zero byte keeps it positive)."""
    # bit_length // 8 + 1 bytes leave the top bit clear: the zero byte mpint asks for, if any.
    return string(value.to_bytes(value.bit_length() // 8 + 1, "big") if value else b"")
