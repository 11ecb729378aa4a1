"""SSH public and private keys and the signature algorithms OpenSSH signs with.

All cryptography is the `cryptography` package's: key parsing (`load_ssh_public_key`,
`load_ssh_private_key`, which decrypts passphrase-protected keys), signing and verifying.
This module only maps SSH's names onto it and keeps the pairing of key type and signature
algorithm strict (no algorithm confusion):

| key type                   | signature algorithm         | hash          |
|----------------------------|-----------------------------|---------------|
| `ssh-ed25519`              | `ssh-ed25519`               | (Ed25519's)   |
| `ecdsa-sha2-nistp256`      | `ecdsa-sha2-nistp256`       | SHA-256       |
| `ecdsa-sha2-nistp384`      | `ecdsa-sha2-nistp384`       | SHA-384       |
| `ecdsa-sha2-nistp521`      | `ecdsa-sha2-nistp521`       | SHA-512       |
| `ssh-rsa`, >= 2048 bits    | `rsa-sha2-512`, `rsa-sha2-256` | SHA-512 / -256 |

`ssh-rsa` signatures (RSA over SHA-1), DSA, security-key (`sk-`) keys and certificates are
refused, as are RSA keys under 2048 bits.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_ssh_private_key,
    load_ssh_public_key,
)

from .sshwire import Reader, SignatureError, mpint, string

__all__ = [
    "ED25519",
    "KEY_TYPES",
    "MIN_RSA_BITS",
    "PublicKey",
    "SigningKey",
    "parse_private_key",
    "parse_public_key",
]

ED25519 = "ssh-ed25519"
_RSA = "ssh-rsa"
_ECDSA_HASH: dict[str, type[hashes.HashAlgorithm]] = {
    "ecdsa-sha2-nistp256": hashes.SHA256,
    "ecdsa-sha2-nistp384": hashes.SHA384,
    "ecdsa-sha2-nistp521": hashes.SHA512,
}
_RSA_HASH: dict[str, type[hashes.HashAlgorithm]] = {
    "rsa-sha2-512": hashes.SHA512,  # what ssh-keygen -Y sign uses, and so do we
    "rsa-sha2-256": hashes.SHA256,
}
# Key type -> the signature algorithms accepted for it, the first being the one we sign with.
_SIGNATURES: dict[str, tuple[str, ...]] = {
    ED25519: (ED25519,),
    **{name: (name,) for name in _ECDSA_HASH},
    _RSA: tuple(_RSA_HASH),
}
KEY_TYPES = tuple(_SIGNATURES)
MIN_RSA_BITS = 2048
_KEY_BEGIN, _KEY_END = "-----BEGIN OPENSSH PRIVATE KEY-----", "-----END OPENSSH PRIVATE KEY-----"

_Public = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
_Private = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class PublicKey:
    """An SSH public key: its type and wire blob (`string type ...`), as found in a file."""

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

    def verify(self, signature: bytes, data: bytes) -> None:
        """Check an SSH signature blob (`string algorithm string bytes`) over `data`.

        Raises `SignatureError`: an unsupported or malformed key, an RSA key under 2048 bits,
        an algorithm that does not belong to this key type, or "does not verify".
        """
        public = _load_public(self)
        reader = Reader(signature)
        algorithm, raw = reader.text(), reader.string()
        reader.end()
        if algorithm not in _SIGNATURES[self.key_type]:
            expected = " or ".join(_SIGNATURES[self.key_type])
            raise SignatureError(
                f"a {algorithm} signature does not belong to a {self.key_type} key "
                f"(expected {expected})"
            )
        try:
            _verify(public, algorithm, raw, data)
        except InvalidSignature:
            raise SignatureError("does not verify") from None


def _verify(public: _Public, algorithm: str, raw: bytes, data: bytes) -> None:
    if isinstance(public, ed25519.Ed25519PublicKey):
        public.verify(raw, data)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        numbers = Reader(raw)
        der = encode_dss_signature(numbers.positive_mpint(), numbers.positive_mpint())
        numbers.end()
        public.verify(der, data, ec.ECDSA(_ECDSA_HASH[algorithm]()))
    else:
        public.verify(raw, data, padding.PKCS1v15(), _RSA_HASH[algorithm]())


def _load_public(key: PublicKey) -> _Public:
    """The `cryptography` key of `key`; only the canonical encoding of a supported key."""
    if key.key_type not in _SIGNATURES:
        raise SignatureError(
            f"key type {key.key_type} is not supported (only {', '.join(KEY_TYPES)})"
        )
    try:
        public = load_ssh_public_key(key.openssh.encode())
    except (ValueError, UnsupportedAlgorithm, NotImplementedError):  # the last: compressed EC
        raise SignatureError(f"the {key.key_type} key is malformed") from None
    if not isinstance(public, _Public) or _openssh(public) != key.openssh:
        # Only the one encoding of a key: another one could slip past a revocation list,
        # which compares blobs.
        raise SignatureError(f"the {key.key_type} key is not canonically encoded")
    _check_strength(public)
    return public


def _check_strength(key: _Public | _Private) -> None:
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        raise SignatureError(
            f"is a {key.key_size}-bit RSA key; sandbench needs at least {MIN_RSA_BITS} bits"
        )


def _openssh(key: _Public) -> str:
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode("ascii")


def parse_public_key(text: str) -> PublicKey:
    """`type base64 [comment]` (a .pub file's line) as a `PublicKey`; the type named must be
    the type inside the blob. Raises `SignatureError`. The key itself is checked when a
    signature is verified with it."""
    parts = text.split()
    if len(parts) < 2:
        raise SignatureError("expected a public key as `TYPE BASE64 [COMMENT]`")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"the key of type {parts[0]} is not valid base64") from None
    inner = Reader(blob).text()
    if inner != parts[0]:
        raise SignatureError(f"the key is named {parts[0]} but its data says {inner}")
    return PublicKey(parts[0], blob)


@dataclass(frozen=True)
class SigningKey:
    """A private key read from an OpenSSH key file, and its public key."""

    private: _Private
    public: PublicKey

    def sign(self, data: bytes) -> bytes:
        """The SSH signature blob (`string algorithm string bytes`) of `data`."""
        algorithm = _SIGNATURES[self.public.key_type][0]
        key = self.private
        if isinstance(key, ed25519.Ed25519PrivateKey):
            raw = key.sign(data)
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(_ECDSA_HASH[algorithm]())))
            raw = mpint(r) + mpint(s)
        else:
            raw = key.sign(data, padding.PKCS1v15(), _RSA_HASH[algorithm]())
        return string(algorithm.encode()) + string(raw)


def _header(text: str) -> tuple[str, str]:
    """The cipher (`none` if unencrypted) and key type an OpenSSH private key file's
    unencrypted header names."""
    body = text.strip()
    if not body.startswith(_KEY_BEGIN) or not body.endswith(_KEY_END):
        raise SignatureError(f"not armoured: expected {_KEY_BEGIN!r} ... {_KEY_END!r}")
    try:
        data = base64.b64decode("".join(body[len(_KEY_BEGIN) : -len(_KEY_END)].split()))
    except (binascii.Error, ValueError):
        raise SignatureError("the armoured body is not valid base64") from None
    reader = Reader(data)
    if reader.take(15) != b"openssh-key-v1\0":
        raise SignatureError("not an OpenSSH private key")
    cipher, _kdf, _kdf_options = reader.text(), reader.string(), reader.string()
    if reader.uint32() != 1:
        raise SignatureError("holds more than one key")
    return cipher, Reader(reader.string()).text()


def parse_private_key(text: str, passphrase: bytes | None) -> SigningKey:
    """A private key from an OpenSSH key file (what `ssh-keygen -t ed25519|ecdsa|rsa` writes),
    decrypted with `passphrase` when the file is encrypted (it is ignored otherwise).

    Raises `SignatureError`: a public key given, an encrypted key without a passphrase, a
    wrong passphrase, an unsupported key type, an RSA key under 2048 bits, a malformed file.
    """
    if text.lstrip().startswith(("ssh-", "ecdsa-", "sk-")):
        raise SignatureError("is a public key; give the private key (the file without .pub)")
    cipher, key_type = _header(text)
    if key_type not in _SIGNATURES:
        raise SignatureError(f"is a {key_type} key; sandbench signs with {', '.join(KEY_TYPES)}")
    encrypted = cipher != "none"
    if encrypted and passphrase is None:
        raise SignatureError(
            "is encrypted with a passphrase: set SANDBENCH_KEY_PASSPHRASE to it, or sign with "
            "`ssh-keygen -Y sign -n sandbench` (docs/digest.md)"
        )
    try:
        private = load_ssh_private_key(text.encode(), passphrase if encrypted else None)
    except (ValueError, UnsupportedAlgorithm, NotImplementedError) as exc:
        if encrypted:
            raise SignatureError(
                "cannot be decrypted: the passphrase in SANDBENCH_KEY_PASSPHRASE is wrong, "
                "or the key is corrupt"
            ) from None
        raise SignatureError(f"cannot be read as an OpenSSH private key: {exc}") from None
    if not isinstance(private, _Private):  # the header named another type than the key's
        raise SignatureError("is corrupt: its header and its key differ in type")
    _check_strength(private)
    public = parse_public_key(_openssh(private.public_key()))
    return SigningKey(private=private, public=public)
