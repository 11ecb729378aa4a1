"""SSH signatures (OpenSSH's PROTOCOL.sshsig, what `ssh-keygen -Y sign` and git write).

A signature file is armoured (`-----BEGIN SSH SIGNATURE-----`, base64) around this blob, in
SSH wire encoding (`string` = uint32 big-endian length + bytes):

    byte[6] "SSHSIG"  uint32 1  string publickey  string namespace  string reserved
    string hash_algorithm  string signature

and the key signs `"SSHSIG" string namespace string reserved string hash_algorithm
string H(message)`. Only `ssh-ed25519` keys are supported; `sha512` (what ssh-keygen uses)
and `sha256` are accepted on verification.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from . import ed25519

__all__ = [
    "ED25519",
    "PublicKey",
    "SignatureError",
    "SigningKey",
    "armour",
    "parse_private_key",
    "parse_public_key",
    "sign",
    "verify",
]

ED25519 = "ssh-ed25519"
_MAGIC = b"SSHSIG"
_BEGIN, _END = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"
_KEY_BEGIN, _KEY_END = "-----BEGIN OPENSSH PRIVATE KEY-----", "-----END OPENSSH PRIVATE KEY-----"
_HASHES = {"sha512": hashlib.sha512, "sha256": hashlib.sha256}
MAX_SIGNATURE_BYTES = 64 * 1024


class SignatureError(ValueError):
    """A signature, key or key file is malformed or unsupported; the message says how."""


@dataclass(frozen=True)
class PublicKey:
    """An SSH public key: its type and wire blob (`string type string key`)."""

    key_type: str
    blob: bytes

    @property
    def fingerprint(self) -> str:
        """`SHA256:<base64, no padding>` of the blob, as `ssh-keygen -l` prints it."""
        digest = base64.b64encode(hashlib.sha256(self.blob).digest()).decode()
        return "SHA256:" + digest.rstrip("=")

    @property
    def openssh(self) -> str:
        """The key as an authorized_keys / allowed_signers key: `type base64`."""
        return f"{self.key_type} {base64.b64encode(self.blob).decode()}"

    def ed25519_bytes(self) -> bytes:
        """The 32 key bytes of an Ed25519 key. Raises `SignatureError` for another type."""
        reader = _Reader(self.blob)
        if reader.text() != ED25519:
            raise SignatureError(f"key type {self.key_type} is not supported (only {ED25519})")
        key = reader.string()
        reader.end()
        if len(key) != 32:
            raise SignatureError("an ssh-ed25519 key is 32 bytes")
        return key


@dataclass(frozen=True)
class SigningKey:
    """An unencrypted Ed25519 private key read from an OpenSSH key file."""

    seed: bytes
    public: PublicKey


class _Reader:
    """SSH wire decoding; every short read is a `SignatureError`, never an IndexError."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, size: int) -> bytes:
        if size > len(self.data) - self.at:
            raise SignatureError("truncated")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def uint32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def string(self) -> bytes:
        return self.take(self.uint32())

    def text(self) -> str:
        """A name (key type, hash algorithm): printable ASCII, since messages show it."""
        data = self.string()
        if not all(0x21 <= byte <= 0x7E for byte in data):
            raise SignatureError("a name field is not printable ASCII")
        return data.decode("ascii")

    def end(self) -> None:
        if self.at != len(self.data):
            raise SignatureError("trailing bytes after the end")


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _ed25519_public(key: bytes) -> PublicKey:
    return PublicKey(ED25519, _string(ED25519.encode()) + _string(key))


def parse_public_key(text: str) -> PublicKey:
    """`type base64 [comment]` (a .pub file's line) as a `PublicKey`; the type named must be
    the type inside the blob. Raises `SignatureError`."""
    parts = text.split()
    if len(parts) < 2:
        raise SignatureError("expected a public key as `TYPE BASE64 [COMMENT]`")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"the key of type {parts[0]} is not valid base64") from None
    inner = _Reader(blob).text()
    if inner != parts[0]:
        raise SignatureError(f"the key is named {parts[0]} but its data says {inner}")
    return PublicKey(parts[0], blob)


def _signed_data(namespace: str, hash_algorithm: str, message: bytes) -> bytes:
    digest = _HASHES[hash_algorithm](message).digest()
    return (
        _MAGIC
        + _string(namespace.encode())
        + _string(b"")
        + _string(hash_algorithm.encode())
        + _string(digest)
    )


def sign(key: SigningKey, namespace: str, message: bytes) -> str:
    """The armoured SSH signature of `message` by `key` in `namespace` (hash sha512)."""
    raw = ed25519.sign(key.seed, _signed_data(namespace, "sha512", message))
    signature = _string(ED25519.encode()) + _string(raw)
    blob = (
        _MAGIC
        + struct.pack(">I", 1)
        + _string(key.public.blob)
        + _string(namespace.encode())
        + _string(b"")
        + _string(b"sha512")
        + _string(signature)
    )
    return armour(blob)


def armour(blob: bytes) -> str:
    """`blob` between the SSH SIGNATURE lines, base64 wrapped at 70 columns as ssh-keygen does."""
    text = base64.b64encode(blob).decode()
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    return "\n".join([_BEGIN, *lines, _END]) + "\n"


def _unarmour(text: str, begin: str, end: str) -> bytes:
    body = text.strip()
    if not body.startswith(begin) or not body.endswith(end):
        raise SignatureError(f"not armoured: expected {begin!r} ... {end!r}")
    inner = "".join(body[len(begin) : -len(end)].split())
    try:
        return base64.b64decode(inner, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the armoured body is not valid base64") from None


def verify(text: str, namespace: str, message: bytes) -> PublicKey:
    """Check the armoured signature `text` over `message` in `namespace`; return the signer's
    key. Raises `SignatureError` saying what is wrong: not armoured, malformed, truncated,
    another namespace, an unsupported key or hash, or a signature that does not verify."""
    reader = _Reader(_unarmour(text, _BEGIN, _END))
    if reader.take(6) != _MAGIC or reader.uint32() != 1:
        raise SignatureError("not an SSHSIG version 1 signature")
    key_blob, signed_ns = reader.string(), reader.string()
    reader.string()  # reserved: signed as it is
    hash_algorithm, signature = reader.text(), reader.string()
    reader.end()
    key = PublicKey(_Reader(key_blob).text(), key_blob)
    if signed_ns != namespace.encode():
        shown = signed_ns.decode("utf-8", "replace")
        raise SignatureError(f"made for namespace {shown!r}, not {namespace!r}")
    if hash_algorithm not in _HASHES:
        raise SignatureError(f"hash algorithm {hash_algorithm!r} is not sha512 or sha256")
    public = key.ed25519_bytes()
    sig_reader = _Reader(signature)
    if sig_reader.text() != ED25519:
        raise SignatureError("the signature's type does not match its ssh-ed25519 key")
    raw = sig_reader.string()
    sig_reader.end()
    if not ed25519.verify(public, _signed_data(namespace, hash_algorithm, message), raw):
        raise SignatureError("does not verify")
    return key


def parse_private_key(text: str) -> SigningKey:
    """An unencrypted Ed25519 key from an OpenSSH private key file (`ssh-keygen -t ed25519`).
    Raises `SignatureError` for an encrypted key, another type or a malformed file."""
    if text.lstrip().startswith(("ssh-", "ecdsa-", "sk-")):
        raise SignatureError("is a public key; give the private key (the file without .pub)")
    reader = _Reader(_unarmour(text, _KEY_BEGIN, _KEY_END))
    if reader.take(15) != b"openssh-key-v1\0":
        raise SignatureError("not an OpenSSH private key")
    cipher, _kdf, _options = reader.text(), reader.string(), reader.string()
    if cipher != "none":
        raise SignatureError(
            "is encrypted with a passphrase, which sandbench cannot decrypt: sign with "
            "`ssh-keygen -Y sign -n sandbench` (docs/digest.md) or use an unencrypted key"
        )
    if reader.uint32() != 1:
        raise SignatureError("holds more than one key")
    reader.string()  # the public key, repeated in the private section
    private = _Reader(reader.string())
    if private.uint32() != private.uint32():
        raise SignatureError("is corrupt (its check numbers differ)")
    key_type = private.text()
    if key_type != ED25519:
        raise SignatureError(f"is a {key_type} key; sandbench signs with {ED25519} keys only")
    public, secret = private.string(), private.string()
    if len(public) != 32 or len(secret) != 64 or secret[32:] != public:
        raise SignatureError("is corrupt (the Ed25519 key has the wrong size)")
    if ed25519.public_key(secret[:32]) != public:
        raise SignatureError("is corrupt (its private and public halves do not match)")
    return SigningKey(seed=secret[:32], public=_ed25519_public(public))
