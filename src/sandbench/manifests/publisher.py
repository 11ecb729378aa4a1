"""Publisher signatures: `module.sig` beside `module.json`, an SSH signature over the digest.

The signed message is the text `SHA256:<digest as 64 lowercase hex>` followed by one
newline (exactly what `sandbench manifest digest DIR` prints), in the SSH signature
namespace `sandbench`. The digest leaves `module.sig` out, so signing does not change it.
docs/digest.md describes the format and the equivalent `ssh-keygen -Y sign` command.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from sandbench.errors import TrustError

from . import sshsig
from .digest import SIGNATURE_NAME
from .models import ModulePackage
from .trust import AllowedSigner, TrustStore, match_pattern_list

__all__ = [
    "NAMESPACE",
    "PublisherCheck",
    "PublisherStatus",
    "sign_module",
    "signed_message",
    "verify_publisher",
]

NAMESPACE = "sandbench"


class PublisherStatus(StrEnum):
    """What the publisher signature of a module shows."""

    VERIFIED = "verified"
    UNSIGNED = "unsigned"
    UNKNOWN_SIGNER = "unknown-signer"
    NOT_ALLOWED = "not-allowed"
    REVOKED = "revoked"
    BAD_SIGNATURE = "bad-signature"


class PublisherCheck(BaseModel):
    """The verdict on `module.sig`: status, one sentence why, and who signed when known.

    `judged` is False when no allowed-signers file was given: the signature was checked
    cryptographically, but nobody said whose keys to trust.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: PublisherStatus
    detail: str
    judged: bool
    key_type: str | None = None
    fingerprint: str | None = None
    principal: str | None = None
    signer: str | None = None
    allowed_signers: str | None = None
    revoked_keys: str | None = None


def signed_message(digest: str) -> bytes:
    """The bytes a publisher signs for a module with this digest."""
    return f"SHA256:{digest.lower()}\n".encode()


def sign_module(
    package: ModulePackage, key_file: Path, passphrase: bytes | None = None
) -> tuple[Path, sshsig.PublicKey]:
    """Write `module.sig` for `package` with the OpenSSH private key in `key_file`
    (Ed25519, ECDSA P-256/384/521 or RSA >= 2048 bits), decrypted with `passphrase` if the
    key is encrypted (`sandbench sign` takes it from SANDBENCH_KEY_PASSPHRASE).

    Raises `TrustError` naming the key file when it cannot be read, is encrypted and no or
    the wrong passphrase was given, is of another type or too short, or when module.sig
    cannot be written.
    """
    try:
        text = key_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not a text key file"
        raise TrustError(key_file, [f"cannot be read: {why}"]) from None
    try:
        key = sshsig.parse_private_key(text, passphrase)
    except sshsig.SignatureError as exc:
        raise TrustError(key_file, [str(exc)]) from None
    target = package.root / SIGNATURE_NAME
    armoured = sshsig.sign(key, NAMESPACE, signed_message(package.digest))
    try:
        target.write_text(armoured, encoding="ascii")
    except OSError as exc:
        raise TrustError(target, [f"cannot be written: {exc.strerror}"]) from None
    return target, key.public


def _read_signature(path: Path) -> str:
    with path.open("rb") as file:  # bounded: the module, not we, chose the file's size
        data = file.read(sshsig.MAX_SIGNATURE_BYTES + 1)
    if len(data) > sshsig.MAX_SIGNATURE_BYTES:
        raise sshsig.SignatureError("is larger than 64 KiB")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise sshsig.SignatureError("is not ASCII text") from None


def verify_publisher(
    package: ModulePackage, trust: TrustStore | None, now: datetime | None = None
) -> PublisherCheck:
    """Verify the package's `module.sig` over the digest sandbench computed, then judge its
    key against `trust` at `now` (default: the current time). Never raises for anything in
    the module: a bad signature is a verdict."""
    judged = trust is not None and trust.signers_file is not None
    base = PublisherCheck(
        status=PublisherStatus.UNSIGNED,
        detail="no module.sig",
        judged=judged,
        allowed_signers=str(trust.signers_file) if trust and trust.signers_file else None,
        revoked_keys=str(trust.revoked_file) if trust and trust.revoked_file else None,
    )
    path = package.root / SIGNATURE_NAME
    if not path.is_file():
        return base
    try:
        key = sshsig.verify(_read_signature(path), NAMESPACE, signed_message(package.digest))
    except (sshsig.SignatureError, OSError) as exc:
        shown = str(exc)
        if shown == "does not verify":
            shown = (
                f"does not verify over SHA256:{package.digest}: the module changed after it "
                "was signed, or another key or digest was signed"
            )
        return _with(base, PublisherStatus.BAD_SIGNATURE, f"module.sig: {shown}")
    base = base.model_copy(update={"key_type": key.key_type, "fingerprint": key.fingerprint})
    if trust is not None and key.blob in trust.revoked:
        detail = f"key {key.fingerprint} is revoked in {trust.revoked_file}"
        return _with(base, PublisherStatus.REVOKED, detail)
    if trust is None or trust.signers_file is None:
        detail = f"good signature by key {key.fingerprint}; no allowed-signers file to judge it"
        return _with(base, PublisherStatus.UNKNOWN_SIGNER, detail)
    return _judge(package.manifest.name, key, trust, now or datetime.now(UTC), base)


def _with(
    base: PublisherCheck, status: PublisherStatus, detail: str, **more: str
) -> PublisherCheck:
    return base.model_copy(update={"status": status, "detail": detail, **more})


def _unusable(line: AllowedSigner, now: datetime) -> str | None:
    """Why `line` does not vouch for anything now, or None."""
    if line.namespaces is not None and not match_pattern_list(line.namespaces, NAMESPACE):
        return f"line {line.line} is limited to namespaces {line.namespaces!r}"
    if line.valid_after is not None and now < line.valid_after:
        return f"line {line.line} is valid only after {line.valid_after.isoformat()}"
    if line.valid_before is not None and now >= line.valid_before:
        return f"line {line.line} expired at {line.valid_before.isoformat()}"
    return None


def _judge(
    name: str, key: sshsig.PublicKey, trust: TrustStore, now: datetime, base: PublisherCheck
) -> PublisherCheck:
    lines = [s for s in trust.signers if s.key.blob == key.blob]
    if not lines:
        detail = f"good signature by key {key.fingerprint}, which {trust.signers_file} lacks"
        return _with(base, PublisherStatus.UNKNOWN_SIGNER, detail)
    reasons = []
    for line in lines:
        problem = _unusable(line, now)
        if problem is None and match_pattern_list(line.principals, name):
            detail = (
                f"good signature by {line.principals} (line {line.line}, key {key.fingerprint})"
            )
            more = {"principal": line.principals} | (
                {"signer": line.comment} if line.comment else {}
            )
            return _with(base, PublisherStatus.VERIFIED, detail, **more)
        reasons.append(problem or f"line {line.line} allows {line.principals!r}, not {name!r}")
    detail = f"key {key.fingerprint} may not publish {name}: " + "; ".join(reasons)
    return _with(base, PublisherStatus.NOT_ALLOWED, detail)
