"""The `publisher-signature` rule and the report's `author` and `publisher` sections.

| publisher status | meaning | rule status |
|---|---|---|
| `verified` | good signature by a key the allowed-signers file allows for this module's name | healthy |
| `unsigned` | no `module.sig` | `[signatures] unsigned` (degraded) |
| `unknown-signer` | good signature by a key the allowed-signers file lacks | as unsigned: such a signature proves no more than none |
| `not-allowed` | the key is listed, but not for this name (or outside its namespaces or validity) | critical |
| `revoked` | the key is in the revocation list | critical |
| `bad-signature` | malformed, truncated, another namespace, an unsupported key, or it does not verify over the digest | critical |

With no allowed-signers file the signer is not judged: unsigned and unknown-signer are
reported as healthy with the reason, a bad or revoked signature stays critical.
"""

from __future__ import annotations

from collections.abc import Iterator

from sandbench.manifests import PublisherStatus

from .model import AuthorReport, Evidence, PublisherReport, RuleResult, Status
from .policy import Policy

__all__ = ["author_report", "publisher_report", "publisher_signature"]

RULE = "publisher-signature"
_CRITICAL = (PublisherStatus.BAD_SIGNATURE, PublisherStatus.REVOKED, PublisherStatus.NOT_ALLOWED)
_HOW = "sign with `sandbench sign DIR --key KEY` (docs/digest.md)"


def publisher_signature(ev: Evidence, policy: Policy) -> Iterator[RuleResult]:
    """See the module docstring."""
    check = ev.publisher
    if check is None:
        return
    status: Status = Status.HEALTHY
    message = f"{check.status.value}: {check.detail}"
    if check.status in _CRITICAL:
        status = Status.CRITICAL
    elif check.status is PublisherStatus.VERIFIED:
        pass
    elif not check.judged:
        message = (
            f"{message}; signer not judged: no allowed-signers file "
            "(--allowed-signers FILE or [signatures] allowed_signers in the policy)"
        )
    else:
        status = policy.signatures.unsigned
        if check.status is PublisherStatus.UNSIGNED:
            message = f"{message}; {_HOW}"
    yield RuleResult(rule=RULE, status=status, message=message)


def publisher_report(ev: Evidence) -> PublisherReport | None:
    """The report's `publisher` section, when the publisher signature was checked."""
    check = ev.publisher
    if check is None:
        return None
    return PublisherReport(
        status=check.status,
        message=check.detail,
        judged=check.judged,
        key_type=check.key_type,
        key_fingerprint=check.fingerprint,
        principal=check.principal,
        signer=check.signer,
        allowed_signers=check.allowed_signers,
        revoked_keys=check.revoked_keys,
    )


def author_report(ev: Evidence) -> AuthorReport | None:
    """The report's `author`: the manifest's, with `verified` computed from the signature."""
    if ev.publisher is None and ev.author is None:
        return None
    verified = ev.publisher is not None and ev.publisher.status is PublisherStatus.VERIFIED
    author = ev.author
    return AuthorReport(
        name=author.name if author else None,
        email=author.email if author else None,
        url=author.url if author else None,
        verified=verified,
        claimed_verified=author.verified if author else False,
        principal=ev.publisher.principal if ev.publisher and verified else None,
    )
