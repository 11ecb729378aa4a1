"""Ed25519 (RFC 8032, the pure variant SSH uses): sign and verify, Python standard library only.

Why our own: no installed dependency offers Ed25519, and the arithmetic is short. Points
are kept in extended coordinates (X:Y:Z:T with x = X/Z, y = Y/Z, xy = T/Z) and added with
the unified formula of RFC 8032 section 5.1.4, which also doubles.

Verification uses only public data. Signing is not hardened against timing side channels
(Python integers are not constant-time): on a shared host, sign with `ssh-keygen -Y sign`
instead (docs/digest.md shows the command).
"""

from __future__ import annotations

import hashlib

__all__ = ["public_key", "sign", "verify"]

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, -1, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)

_Point = tuple[int, int, int, int]


def _add(a: _Point, b: _Point) -> _Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    pa = (y1 - x1) * (y2 - x2) % _P
    pb = (y1 + x1) * (y2 + x2) % _P
    pc = 2 * _D * t1 * t2 % _P
    pd = 2 * z1 * z2 % _P
    e, f, g, h = pb - pa, pd - pc, pd + pc, pb + pa
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _multiply(scalar: int, point: _Point) -> _Point:
    result: _Point = (0, 1, 1, 0)  # the neutral element
    for bit in bin(scalar)[2:]:
        result = _add(result, result)
        if bit == "1":
            result = _add(result, point)
    return result


def _recover_x(y: int, sign: int) -> int | None:
    """The x of the curve point with this y and x's low bit `sign`, or None if there is none."""
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, -1, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    return _P - x if x & 1 != sign else x


def _decode(data: bytes) -> _Point | None:
    number = int.from_bytes(data, "little")
    y = number & ((1 << 255) - 1)
    x = _recover_x(y, number >> 255)
    if x is None:
        return None
    return x, y, 1, x * y % _P


def _encode(point: _Point) -> bytes:
    x, y, z, _ = point
    inverse = pow(z, -1, _P)
    x, y = x * inverse % _P, y * inverse % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


_BASE_Y = 4 * pow(5, -1, _P) % _P
_BASE_X = _recover_x(_BASE_Y, 0) or 0  # always found: B is a curve point
_BASE: _Point = (_BASE_X, _BASE_Y, 1, _BASE_X * _BASE_Y % _P)


def _sha512_int(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little")


def _expand(seed: bytes) -> tuple[int, bytes]:
    digest = hashlib.sha512(seed).digest()
    scalar = int.from_bytes(digest[:32], "little")
    scalar &= (1 << 254) - 8  # clear the 3 low bits and bit 255 ...
    scalar |= 1 << 254  # ... and set bit 254 (RFC 8032 5.1.5)
    return scalar, digest[32:]


def public_key(seed: bytes) -> bytes:
    """The 32-byte public key of a 32-byte private key (seed). Raises ValueError otherwise."""
    if len(seed) != 32:
        raise ValueError("an Ed25519 private key is 32 bytes")
    return _encode(_multiply(_expand(seed)[0], _BASE))


def sign(seed: bytes, message: bytes) -> bytes:
    """The 64-byte signature of `message` by the 32-byte private key `seed`."""
    scalar, prefix = _expand(seed)
    public = public_key(seed)
    r = _sha512_int(prefix, message) % _L
    encoded_r = _encode(_multiply(r, _BASE))
    k = _sha512_int(encoded_r, public, message) % _L
    s = (r + k * scalar) % _L
    return encoded_r + s.to_bytes(32, "little")


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is `public`'s signature of `message`; False for anything else
    (wrong lengths, a key or R that is not a curve point, a non-canonical S)."""
    if len(public) != 32 or len(signature) != 64:
        return False
    point_a, point_r = _decode(public), _decode(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if point_a is None or point_r is None or s >= _L:
        return False
    k = _sha512_int(signature[:32], public, message) % _L
    left = _multiply(s, _BASE)
    right = _add(point_r, _multiply(k, point_a))
    # Projective equality: x1/z1 == x2/z2 and y1/z1 == y2/z2.
    return (left[0] * right[2] - right[0] * left[2]) % _P == 0 and (
        left[1] * right[2] - right[1] * left[2]
    ) % _P == 0
