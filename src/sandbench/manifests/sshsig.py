"""SSH signatures (OpenSSH's PROTOCOL.sshsig, what `ssh-keygen -Y sign` and git write).

A signature file is armoured (`-----BEGIN SSH SIGNATURE-----`, base64) around this blob, in
SSH wire encoding (`string` = uint32 big-endian length + bytes):

    byte[6] "SSHSIG"  uint32 1  string publickey  string namespace  string reserved
    string hash_algorithm  string signature

and the key signs `"SSHSIG" string namespace string reserved string hash_algorithm
string H(message)`. This module owns only that framing; keys and signature algorithms
(Ed25519, ECDSA P-256/384/521, RSA with SHA-2) are sshkeys.py's, through `cryptography`.
`sha512` (what ssh-keygen uses) and `sha256` are accepted as the message hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct

from .sshkeys import ED25519, KEY_TYPES, PublicKey, SigningKey, parse_private_key, parse_public_key
from .sshwire import Reader, SignatureError, string

__all__ = [
    "ED25519",
    "KEY_TYPES",
    "MAX_SIGNATURE_BYTES",
    "PublicKey",
    "SignatureError",
    "SigningKey",
    "armour",
    "parse_private_key",
    "parse_public_key",
    "sign",
    "verify",
]

_MAGIC = b"SSHSIG"
_BEGIN, _END = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"
_HASHES = {"sha512": hashlib.sha512, "sha256": hashlib.sha256}
MAX_SIGNATURE_BYTES = 64 * 1024


def _signed_data(namespace: str, hash_algorithm: str, message: bytes) -> bytes:
    digest = _HASHES[hash_algorithm](message).digest()
    return (
        _MAGIC
        + string(namespace.encode())
        + string(b"")
        + string(hash_algorithm.encode())
        + string(digest)
    )


def sign(key: SigningKey, namespace: str, message: bytes) -> str:
    """The armoured SSH signature of `message` by `key` in `namespace` (hash sha512)."""
    signature = key.sign(_signed_data(namespace, "sha512", message))
    blob = (
        _MAGIC
        + struct.pack(">I", 1)
        + string(key.public.blob)
        + string(namespace.encode())
        + string(b"")
        + string(b"sha512")
        + string(signature)
    )
    return armour(blob)


def armour(blob: bytes) -> str:
    """`blob` between the SSH SIGNATURE lines, base64 wrapped at 70 columns as ssh-keygen does."""
    text = base64.b64encode(blob).decode()
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    return "\n".join([_BEGIN, *lines, _END]) + "\n"


def _unarmour(text: str) -> bytes:
    body = text.strip()
    if not body.startswith(_BEGIN) or not body.endswith(_END):
        raise SignatureError(f"not armoured: expected {_BEGIN!r} ... {_END!r}")
    inner = "".join(body[len(_BEGIN) : -len(_END)].split())
    try:
        return base64.b64decode(inner, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the armoured body is not valid base64") from None


def verify(text: str, namespace: str, message: bytes) -> PublicKey:
    """Check the armoured signature `text` over `message` in `namespace`; return the signer's
    key. Raises `SignatureError` saying what is wrong: not armoured, malformed, truncated,
    another namespace, an unsupported key, hash or signature algorithm (or one that does not
    belong to the key), an RSA key under 2048 bits, or a signature that does not verify."""
    reader = Reader(_unarmour(text))
    if reader.take(6) != _MAGIC or reader.uint32() != 1:
        raise SignatureError("not an SSHSIG version 1 signature")
    key_blob, signed_ns = reader.string(), reader.string()
    reader.string()  # reserved: signed as it is
    hash_algorithm, signature = reader.text(), reader.string()
    reader.end()
    key = PublicKey(Reader(key_blob).text(), key_blob)
    if signed_ns != namespace.encode():
        shown = signed_ns.decode("utf-8", "replace")
        raise SignatureError(f"made for namespace {shown!r}, not {namespace!r}")
    if hash_algorithm not in _HASHES:
        raise SignatureError(f"hash algorithm {hash_algorithm!r} is not sha512 or sha256")
    key.verify(signature, _signed_data(namespace, hash_algorithm, message))
    return key
