"""The `publisher-signature` rule, `author.verified` and the signer in every report format."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from sandbench.manifests import Author, PublisherCheck, PublisherStatus
from sandbench.policy import load_policy
from sandbench.reports import Format, Policy, Status, assess, json_schema, render
from sandbench.reports.policy import SignaturePolicy

from .conftest import make_evidence
from .test_formats import SARIF_SCHEMA

FINGERPRINT = "SHA256:HtpMKVW2OYskW7vLE0y2Jtxodg59kBKnuw/1pwbFINU"


def check(status: PublisherStatus, *, judged: bool = True, **more) -> PublisherCheck:
    signed = status not in (PublisherStatus.UNSIGNED, PublisherStatus.BAD_SIGNATURE)
    fields = {"key_type": "ssh-ed25519", "fingerprint": FINGERPRINT} if signed else {}
    return PublisherCheck(status=status, detail="why", judged=judged, **fields, **more)


def rule(report):
    (found,) = [r for r in report.rules if r.rule == "publisher-signature"]
    return found


@pytest.mark.parametrize(
    ("status", "judged", "expected"),
    [
        (PublisherStatus.VERIFIED, True, Status.HEALTHY),
        (PublisherStatus.UNSIGNED, True, Status.DEGRADED),
        (PublisherStatus.UNKNOWN_SIGNER, True, Status.DEGRADED),
        (PublisherStatus.NOT_ALLOWED, True, Status.CRITICAL),
        (PublisherStatus.REVOKED, True, Status.CRITICAL),
        (PublisherStatus.BAD_SIGNATURE, True, Status.CRITICAL),
        # No allowed-signers file: nobody said whom to trust, so no signer is judged ...
        (PublisherStatus.UNSIGNED, False, Status.HEALTHY),
        (PublisherStatus.UNKNOWN_SIGNER, False, Status.HEALTHY),
        # ... but a signature that does not verify, or a revoked key, is still critical.
        (PublisherStatus.BAD_SIGNATURE, False, Status.CRITICAL),
        (PublisherStatus.REVOKED, False, Status.CRITICAL),
    ],
)
def test_rule_status_by_publisher_status(status, judged, expected):
    report = assess(make_evidence(publisher=check(status, judged=judged)))
    assert rule(report).status is expected
    assert report.status is expected
    assert rule(report).message.startswith(f"{status.value}: why")
    if not judged and expected is Status.HEALTHY:
        assert "signer not judged: no allowed-signers file" in rule(report).message


def test_policy_can_make_unsigned_and_unknown_signers_critical():
    strict = Policy(signatures=SignaturePolicy(unsigned=Status.CRITICAL))
    for status in (PublisherStatus.UNSIGNED, PublisherStatus.UNKNOWN_SIGNER):
        report = assess(make_evidence(publisher=check(status)), strict)
        assert (report.status, report.reasons) == (Status.CRITICAL, ["publisher-signature"])


def test_the_policy_file_section_and_its_relative_paths(tmp_path):
    path = tmp_path / "registry.toml"
    path.write_text(
        '[signatures]\nallowed_signers = "trust/allowed_signers"\n'
        'revoked = "/etc/sandbench/revoked_keys"\nunsigned = "critical"\n'
    )
    policy = load_policy(path)
    assert policy.signatures.allowed_signers == tmp_path / "trust" / "allowed_signers"
    assert policy.signatures.revoked == Path("/etc/sandbench/revoked_keys")
    assert policy.signatures.unsigned is Status.CRITICAL


@pytest.mark.parametrize("claimed", [True, False])
def test_author_verified_is_computed_not_claimed(claimed):
    author = Author(name="NXT Ecosystem", verified=claimed)
    for status in PublisherStatus:
        report = assess(make_evidence(author=author, publisher=check(status, principal="@p/*")))
        data = json.loads(render(report, Format.JSON))["author"]
        assert data["verified"] is (status is PublisherStatus.VERIFIED)
        assert data["claimedVerified"] is claimed
        assert data["name"] == "NXT Ecosystem"


def test_without_publisher_evidence_there_is_no_rule_and_no_section():
    report = assess(make_evidence())
    assert "publisher-signature" not in {r.rule for r in report.rules}
    assert report.publisher is None
    assert report.author is None


def _verified_report():
    publisher = check(
        PublisherStatus.VERIFIED,
        principal="@plataforma/*",
        signer="alice@example.com",
        allowed_signers="/etc/sandbench/allowed_signers",
    )
    return assess(make_evidence(publisher=publisher, author=Author(name="Alice")))


def test_json_has_the_signer_fingerprint_and_principal():
    data = json.loads(render(_verified_report(), Format.JSON))
    assert data["publisher"] == {
        "status": "verified",
        "message": "why",
        "judged": True,
        "keyType": "ssh-ed25519",
        "keyFingerprint": FINGERPRINT,
        "principal": "@plataforma/*",
        "signer": "alice@example.com",
        "allowedSigners": "/etc/sandbench/allowed_signers",
        "revokedKeys": None,
    }
    assert data["author"]["principal"] == "@plataforma/*"


@pytest.mark.parametrize("fmt", [Format.TEXT, Format.MARKDOWN, Format.HTML, Format.SARIF])
def test_every_format_shows_the_fingerprint_and_principal(fmt):
    text = render(_verified_report(), fmt)
    assert FINGERPRINT in text
    assert "@plataforma/*" in text


def test_text_line():
    text = render(_verified_report(), Format.TEXT)
    assert (
        f"  publisher  verified by @plataforma/* (alice@example.com), key ssh-ed25519 {FINGERPRINT}"
        in text.splitlines()
    )


def test_sarif_properties_and_a_failing_rule_result():
    revoked = check(PublisherStatus.REVOKED)
    log = json.loads(render(assess(make_evidence(publisher=revoked)), Format.SARIF))
    run = log["runs"][0]
    assert run["properties"]["publisher"] == "revoked"
    assert run["properties"]["publisherKeyFingerprint"] == FINGERPRINT
    assert run["properties"]["authorVerified"] is False
    (result,) = [r for r in run["results"] if r["ruleId"] == "policy/publisher-signature"]
    assert result["level"] == "error"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "module.sig"
    jsonschema.validate(log, SARIF_SCHEMA)


def test_the_report_schema_still_validates():
    data = json.loads(render(_verified_report(), Format.JSON))
    jsonschema.validate(data, json_schema())
