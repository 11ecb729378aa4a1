"""Publisher signatures (module.sig) with real keys made by ssh-keygen: OpenSSH interoperability
both ways, the trust store, and every way a signature can fail."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbench.errors import ManifestError, TrustError
from sandbench.manifests import (
    PublisherStatus,
    load,
    load_trust_store,
    sign_module,
    signed_message,
    sshsig,
    verify_publisher,
)
from sandbench.manifests.sshwire import Reader
from sandbench.manifests.trust import match_pattern_list
from tests.manifests.conftest import WriteModule
from tests.manifests.samples import EXAMPLE
from tests.sshkeys import Key, make_keys, ssh_keygen

NAME = EXAMPLE["name"]  # @plataforma/vendas-module


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_keys(tmp_path_factory)


@pytest.fixture
def module(write_module: WriteModule) -> Path:
    return write_module({"lib/data.txt": "rows\n"}, manifest=EXAMPLE)


def allowed(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "allowed_signers"
    path.write_text("# who may publish what\n\n" + "\n".join(lines) + "\n")
    return path


def trust_for(tmp_path: Path, *lines: str, revoked: list[Key] | None = None):
    revoked_file = None
    if revoked is not None:
        revoked_file = tmp_path / "revoked_keys"
        revoked_file.write_text("".join(f"{k.public}\n" for k in revoked))
    return load_trust_store(allowed(tmp_path, *lines), revoked_file)


def hand_sign(root: Path, key: Key, namespace: str = "sandbench") -> None:
    """`sandbench manifest digest DIR | ssh-keygen -Y sign -n sandbench -f KEY > DIR/module.sig`."""
    message = signed_message(load(root).digest)
    done = ssh_keygen("-Y", "sign", "-n", namespace, "-f", str(key.path), stdin=message)
    assert done.returncode == 0, done.stderr
    (root / "module.sig").write_text(done.stdout)


def verdict(root: Path, trust) -> PublisherStatus:
    return verify_publisher(load(root), trust).status


# -- interoperability with OpenSSH -------------------------------------------------------


def test_ssh_keygen_signature_verifies_in_sandbench(module, keys, tmp_path):
    hand_sign(module, keys["alice"])
    check = verify_publisher(
        load(module), trust_for(tmp_path, f"@plataforma/* {keys['alice'].public}")
    )
    assert check.status is PublisherStatus.VERIFIED
    assert check.fingerprint == keys["alice"].fingerprint
    assert check.principal == "@plataforma/*"
    assert check.signer == "alice@example.com"


def test_sandbench_signature_verifies_in_ssh_keygen(module, keys, tmp_path):
    sign_module(load(module), keys["alice"].path)
    signers = allowed(tmp_path, f'@plataforma/* namespaces="sandbench" {keys["alice"].openssh}')
    done = ssh_keygen(
        "-Y", "verify", "-f", str(signers), "-I", NAME, "-n", "sandbench",
        "-s", str(module / "module.sig"),
        stdin=signed_message(load(module).digest),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f'Good "sandbench" signature for {NAME}' in done.stdout + done.stderr


def test_sandbench_and_ssh_keygen_write_the_same_bytes(module, keys, tmp_path):
    # Ed25519 is deterministic: the same key, namespace and message give the same file.
    hand_sign(module, keys["alice"])
    by_hand = (module / "module.sig").read_bytes()
    sign_module(load(module), keys["alice"].path)
    assert (module / "module.sig").read_bytes() == by_hand


def test_fingerprint_is_what_ssh_keygen_prints(keys):
    key = sshsig.parse_public_key(keys["bob"].public)
    assert key.fingerprint == keys["bob"].fingerprint


# -- every verdict -------------------------------------------------------------------------


def test_signing_does_not_change_the_digest(module, keys):
    before = load(module).digest
    sign_module(load(module), keys["alice"].path)
    assert load(module).digest == before


def test_no_module_sig_is_unsigned(module, keys, tmp_path):
    assert (
        verdict(module, trust_for(tmp_path, f"* {keys['alice'].public}"))
        is PublisherStatus.UNSIGNED
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "lib" / "data.txt").write_text("rows, changed\n"),
        lambda root: (root / "extra.txt").write_text("added after signing\n"),
        lambda root: (root / "lib" / "data.txt").unlink(),
        lambda root: (root / "module.wasm").write_bytes(b"\0asm\1\0\0\0\0"),
    ],
    ids=["edited", "added", "removed", "entry"],
)
def test_a_file_changed_after_signing_is_a_bad_signature(module, keys, tmp_path, change):
    sign_module(load(module), keys["alice"].path)
    change(module)
    check = verify_publisher(load(module), trust_for(tmp_path, f"* {keys['alice'].public}"))
    assert check.status is PublisherStatus.BAD_SIGNATURE
    assert "does not verify" in check.detail
    assert "changed after it was signed" in check.detail


def test_a_permission_added_to_module_json_breaks_the_signature(module, keys):
    sign_module(load(module), keys["alice"].path)
    raw = json.loads((module / "module.json").read_text())
    raw["security"]["permissions"].append("storage:write:everything")
    (module / "module.json").write_text(json.dumps(raw))
    assert verdict(module, None) is PublisherStatus.BAD_SIGNATURE


def test_a_key_the_allowed_signers_lack_is_an_unknown_signer(module, keys, tmp_path):
    sign_module(load(module), keys["bob"].path)
    check = verify_publisher(load(module), trust_for(tmp_path, f"* {keys['alice'].public}"))
    assert check.status is PublisherStatus.UNKNOWN_SIGNER
    assert check.fingerprint == keys["bob"].fingerprint
    assert check.judged


def test_without_allowed_signers_a_good_signature_is_not_judged(module, keys):
    sign_module(load(module), keys["bob"].path)
    check = verify_publisher(load(module), None)
    assert (check.status, check.judged) == (PublisherStatus.UNKNOWN_SIGNER, False)
    assert "no allowed-signers file" in check.detail


def test_a_key_allowed_for_another_scope_is_not_allowed(module, keys, tmp_path):
    sign_module(load(module), keys["alice"].path)
    trust = trust_for(tmp_path, f"@financeiro/*,finance-* {keys['alice'].public}")
    check = verify_publisher(load(module), trust)
    assert check.status is PublisherStatus.NOT_ALLOWED
    assert "allows '@financeiro/*,finance-*', not '@plataforma/vendas-module'" in check.detail


@pytest.mark.parametrize(
    ("principals", "expected"),
    [
        ("@plataforma/*", PublisherStatus.VERIFIED),
        ("@plataforma/vendas-module", PublisherStatus.VERIFIED),
        ("@plataforma/vendas-?odule", PublisherStatus.VERIFIED),
        ("*", PublisherStatus.VERIFIED),
        ("@plataforma/*,!@plataforma/vendas-*", PublisherStatus.NOT_ALLOWED),
        ("@plataforma", PublisherStatus.NOT_ALLOWED),
        ("@plataforma/vendas", PublisherStatus.NOT_ALLOWED),
        ("@PLATAFORMA/*", PublisherStatus.NOT_ALLOWED),
        ("@plataforma/.*", PublisherStatus.NOT_ALLOWED),  # a glob, not a regular expression
    ],
)
def test_principals_are_pattern_lists_over_the_module_name(
    module, keys, tmp_path, principals, expected
):
    sign_module(load(module), keys["alice"].path)
    assert verdict(module, trust_for(tmp_path, f"{principals} {keys['alice'].public}")) is expected


def test_a_later_line_for_the_same_key_can_allow_it(module, keys, tmp_path):
    sign_module(load(module), keys["alice"].path)
    trust = trust_for(
        tmp_path, f"@other/* {keys['alice'].public}", f"@plataforma/* {keys['alice'].public}"
    )
    check = verify_publisher(load(module), trust)
    assert check.status is PublisherStatus.VERIFIED
    assert check.principal == "@plataforma/*"


def test_a_revoked_key_is_revoked_even_when_allowed(module, keys, tmp_path):
    sign_module(load(module), keys["alice"].path)
    trust = trust_for(tmp_path, f"@plataforma/* {keys['alice'].public}", revoked=[keys["alice"]])
    check = verify_publisher(load(module), trust)
    assert check.status is PublisherStatus.REVOKED
    assert check.fingerprint == keys["alice"].fingerprint
    other = trust_for(tmp_path, f"@plataforma/* {keys['alice'].public}", revoked=[keys["bob"]])
    assert verdict(module, other) is PublisherStatus.VERIFIED


def test_ssh_keygen_refuses_the_revoked_key_too(module, keys, tmp_path):
    # The same plain revocation list is what `ssh-keygen -Y verify -r` reads.
    sign_module(load(module), keys["alice"].path)
    signers = allowed(tmp_path, f"@plataforma/* {keys['alice'].openssh}")
    revoked = tmp_path / "revoked_keys"
    revoked.write_text(keys["alice"].public + "\n")
    done = ssh_keygen(
        "-Y", "verify", "-f", str(signers), "-I", NAME, "-n", "sandbench", "-r", str(revoked),
        "-s", str(module / "module.sig"), stdin=signed_message(load(module).digest),
    )  # fmt: skip
    assert done.returncode != 0


@pytest.mark.parametrize(
    ("options", "expected", "why"),
    [
        ('namespaces="sandbench,git"', PublisherStatus.VERIFIED, ""),
        ('namespaces="git"', PublisherStatus.NOT_ALLOWED, "limited to namespaces 'git'"),
        ('valid-after="20200101"', PublisherStatus.VERIFIED, ""),
        ('valid-before="20200101Z"', PublisherStatus.NOT_ALLOWED, "expired at 2020-01-01"),
        ('valid-after="29991231235959Z"', PublisherStatus.NOT_ALLOWED, "valid only after"),
    ],
)
def test_line_options_limit_a_key(module, keys, tmp_path, options, expected, why):
    sign_module(load(module), keys["alice"].path)
    check = verify_publisher(
        load(module), trust_for(tmp_path, f"@plataforma/* {options} {keys['alice'].public}")
    )
    assert check.status is expected
    assert why in check.detail


def test_validity_is_judged_at_the_time_given(module, keys, tmp_path):
    sign_module(load(module), keys["alice"].path)
    trust = trust_for(tmp_path, f'* valid-before="20300101Z" {keys["alice"].public}')
    late = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=1)
    assert verify_publisher(load(module), trust, now=late).status is PublisherStatus.NOT_ALLOWED
    early = datetime(2029, 12, 31, tzinfo=UTC)
    assert verify_publisher(load(module), trust, now=early).status is PublisherStatus.VERIFIED


def _resigned(text: str, edit) -> str:
    lines = text.strip().splitlines()
    blob = base64.b64decode("".join(lines[1:-1]))
    return sshsig.armour(edit(blob))


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (lambda sig: sig[: len(sig) // 2], "not armoured"),
        (lambda sig: sig.replace("-----END SSH SIGNATURE-----\n", ""), "not armoured"),
        (lambda sig: _resigned(sig, lambda b: b[:-10]), "truncated"),
        (lambda sig: _resigned(sig, lambda b: b + b"\0"), "trailing bytes"),
        (lambda sig: _resigned(sig, lambda b: b"SSHSIX" + b[6:]), "not an SSHSIG"),
        (lambda sig: _resigned(sig, lambda b: b[:-1] + bytes([b[-1] ^ 1])), "does not verify"),
        (lambda _: "garbage\n", "not armoured"),
        (lambda _: "", "not armoured"),
        (lambda _: "-----BEGIN SSH SIGNATURE-----\n!!!\n-----END SSH SIGNATURE-----\n", "base64"),
        (lambda _: "\xe9t\xe9", "not ASCII"),
        (lambda _: "-----BEGIN SSH SIGNATURE-----\n" + "A" * 70_000 + "\n", "larger than 64 KiB"),
    ],
    ids=[
        "half", "no-end", "truncated-blob", "trailing", "magic", "flipped-bit", "garbage",
        "empty", "bad-base64", "not-ascii", "huge",
    ],
)  # fmt: skip
def test_truncated_or_garbage_module_sig_is_a_bad_signature(module, keys, content, why):
    sign_module(load(module), keys["alice"].path)
    sig = (module / "module.sig").read_text()
    (module / "module.sig").write_text(content(sig), encoding="utf-8")
    check = verify_publisher(load(module), None)
    assert check.status is PublisherStatus.BAD_SIGNATURE
    assert why in check.detail


def test_a_signature_for_another_namespace_is_bad(module, keys):
    hand_sign(module, keys["alice"], namespace="git")
    check = verify_publisher(load(module), None)
    assert check.status is PublisherStatus.BAD_SIGNATURE
    assert "namespace 'git', not 'sandbench'" in check.detail


def test_a_signature_over_another_digest_is_bad(module, keys, write_module):
    other = write_module({"other.txt": "x"}, manifest=EXAMPLE, name="other")
    sign_module(load(other), keys["alice"].path)
    (module / "module.sig").write_bytes((other / "module.sig").read_bytes())
    assert verdict(module, None) is PublisherStatus.BAD_SIGNATURE


def test_an_ecdsa_key_signs_as_well(module, keys, tmp_path):
    # Until ECDSA was verified through `cryptography`, this was a refused key type.
    hand_sign(module, keys["dave"])
    check = verify_publisher(load(module), trust_for(tmp_path, f"* {keys['dave'].public}"))
    assert (check.status, check.key_type) == (PublisherStatus.VERIFIED, "ecdsa-sha2-nistp256")


# -- the digest and module.sig ---------------------------------------------------------------


def test_module_sig_must_be_a_regular_file(module):
    (module / "module.sig").symlink_to("lib/data.txt")
    with pytest.raises(ManifestError, match=r"module\.sig: must be a regular file"):
        load(module)


def test_a_folder_named_module_sig_is_digested_not_skipped(module):
    before = load(module).digest
    (module / "module.sig").mkdir()
    (module / "module.sig" / "hidden.txt").write_text("covered\n")
    assert load(module).digest != before
    assert verify_publisher(load(module), None).status is PublisherStatus.UNSIGNED


def test_module_sig_deeper_down_is_covered(module):
    before = load(module).digest
    (module / "lib" / "module.sig").write_text("anything")
    assert load(module).digest != before


# -- signing keys -----------------------------------------------------------------------------


def test_an_encrypted_key_is_refused_in_one_line(module, keys):
    with pytest.raises(TrustError) as info:
        sign_module(load(module), keys["carol"].path)
    (problem,) = info.value.problems
    assert "encrypted with a passphrase" in problem
    assert "ssh-keygen -Y sign -n sandbench" in problem
    assert not (module / "module.sig").exists()


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("alice.pub", "is a public key; give the private key"),
        ("weak", "is a 1024-bit RSA key; sandbench needs at least 2048 bits"),
        ("missing", "cannot be read: No such file or directory"),
        ("garbage", "not armoured"),
    ],
)
def test_unusable_signing_keys_are_one_line_errors(module, keys, tmp_path, key, why):
    (tmp_path / "garbage").write_text("not a key\n")
    folder = keys["alice"].path.parent
    path = tmp_path / key if key in ("missing", "garbage") else folder / key
    with pytest.raises(TrustError) as info:
        sign_module(load(module), path)
    assert info.value.problems == [why] or why in info.value.problems[0]


# -- trust files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("* cert-authority {key}", "line 3: cert-authority is not supported"),
        ("* no-touch-required {key}", "line 3: unsupported option 'no-touch-required'"),
        ('* valid-before="tomorrow" {key}', "line 3: 'tomorrow' is not a time"),
        ("* ssh-ed25519 !!!notbase64", "line 3: the key of type ssh-ed25519 is not valid base64"),
        ("*", "line 3: expected a public key"),
        ('"@a/* {key}', "line 3: a quoted field is not closed"),
        ("* namespaces=sandbench {key}", "line 3: cannot read the options"),
        ("* ssh-rsa {blob}", "line 3: the key is named ssh-rsa but its data says ssh-ed25519"),
    ],
)
def test_a_bad_allowed_signers_line_is_named_by_number(keys, tmp_path, line, why):
    key = keys["alice"].public
    text = line.format(key=key, blob=key.split()[1])
    with pytest.raises(TrustError) as info:
        load_trust_store(allowed(tmp_path, text), None)
    assert info.value.problems[0].startswith(why)


def test_a_binary_krl_is_refused(tmp_path, keys):
    krl = tmp_path / "revoked.krl"
    done = ssh_keygen("-k", "-f", str(krl), f"{keys['alice'].path}.pub")
    assert done.returncode == 0, done.stderr
    with pytest.raises(TrustError, match="binary KRL; list the revoked public keys one per line"):
        load_trust_store(None, krl)


def test_a_missing_trust_file_is_an_error(tmp_path):
    with pytest.raises(TrustError, match="cannot be read"):
        load_trust_store(tmp_path / "nope", None)


def test_quoted_principals_and_options_with_commas(keys, tmp_path):
    trust = load_trust_store(
        allowed(
            tmp_path,
            f'"@a/*,@b/*" namespaces="git,sandbench",valid-after="20200101" {keys["alice"].public}',
        ),
        None,
    )
    assert trust is not None
    (signer,) = trust.signers
    assert signer.principals == "@a/*,@b/*"
    assert signer.namespaces == "git,sandbench"


# -- pattern lists and hostile names ------------------------------------------------------------


@settings(deadline=None)  # a busy machine must not fail it
@given(
    pattern=st.text(alphabet="ab*?", max_size=8),
    text=st.text(alphabet="ab*?", max_size=8),
)
def test_glob_matches_like_a_regular_expression_would(pattern, text):
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    assert match_pattern_list(pattern, text) is bool(re.fullmatch(regex, text, re.S))


def test_many_stars_against_a_long_name_do_not_backtrack_forever():
    # With a regular expression this pattern takes exponential time against this name.
    assert not match_pattern_list("*a" * 30 + "b", "a" * 200)


def _s(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def test_a_key_type_with_control_characters_is_refused(module):
    evil = _s(b"ssh-ed\x1b[2J") + _s(bytes(32))
    blob = b"SSHSIG" + (1).to_bytes(4, "big") + _s(evil) + _s(b"sandbench") + _s(b"")
    blob += _s(b"sha512") + _s(_s(b"ssh-ed25519") + _s(bytes(64)))
    (module / "module.sig").write_text(sshsig.armour(blob))
    check = verify_publisher(load(module), None)
    assert check.status is PublisherStatus.BAD_SIGNATURE
    assert "\x1b" not in check.detail
    assert check.detail == "module.sig: a name field is not printable ASCII"


def _replace_key_or_signature(sig: str, key_blob: bytes | None, raw: bytes | None) -> str:
    """The armoured Ed25519 module.sig with its key blob and/or raw signature replaced."""
    reader = Reader(base64.b64decode("".join(sig.strip().splitlines()[1:-1])))
    head = reader.take(10)  # "SSHSIG" and the version
    key, namespace, reserved, hash_algorithm = (reader.string() for _ in range(4))
    algorithm_and_raw = Reader(reader.string())
    algorithm, old_raw = algorithm_and_raw.string(), algorithm_and_raw.string()
    fields = (key_blob or key, namespace, reserved, hash_algorithm)
    signature = _s(algorithm) + _s(raw or old_raw)
    return sshsig.armour(head + b"".join(_s(f) for f in fields) + _s(signature))


def test_ed25519_keys_and_r_values_off_the_curve_never_verify(module, keys):
    sign_module(load(module), keys["alice"].path)
    sig = (module / "module.sig").read_text()
    raw = base64.b64decode("".join(sig.strip().splitlines()[1:-1]))[-64:]
    p = 2**255 - 19
    not_canonical = p.to_bytes(32, "little")  # y = p: not reduced
    off_curve = (2).to_bytes(32, "little")  # y = 2 has no x on the curve
    for bad in (not_canonical, off_curve):
        for edited in (
            _replace_key_or_signature(sig, _s(b"ssh-ed25519") + _s(bad), None),
            _replace_key_or_signature(sig, None, bad + raw[32:]),
        ):
            (module / "module.sig").write_text(edited)
            check = verify_publisher(load(module), None)
            assert check.status is PublisherStatus.BAD_SIGNATURE, check.detail


def test_a_non_canonical_ed25519_s_is_refused(module, keys):
    # S + L satisfies the same equation but is not canonical: refused, as RFC 8032 asks.
    sign_module(load(module), keys["alice"].path)
    sig = (module / "module.sig").read_text()
    raw = base64.b64decode("".join(sig.strip().splitlines()[1:-1]))[-64:]
    s = int.from_bytes(raw[32:], "little") + 2**252 + 27742317777372353535851937790883648493
    edited = _replace_key_or_signature(sig, None, raw[:32] + s.to_bytes(32, "little"))
    (module / "module.sig").write_text(edited)
    check = verify_publisher(load(module), None)
    assert (check.status, check.detail) == (
        PublisherStatus.BAD_SIGNATURE,
        f"module.sig: does not verify over SHA256:{load(module).digest}: the module changed "
        "after it was signed, or another key or digest was signed",
    )


def test_a_bad_revocation_line_is_named_by_number(keys, tmp_path):
    revoked = tmp_path / "revoked_keys"
    revoked.write_text(f"# revoked\n{keys['bob'].public}\nssh-ed25519\n")
    with pytest.raises(TrustError) as info:
        load_trust_store(None, revoked)
    assert info.value.problems == ["line 3: expected a public key as `TYPE BASE64 [COMMENT]`"]


def test_a_trust_file_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "allowed_signers"
    path.write_bytes(b"\xff\xfe* ssh-ed25519 AAAA\n")
    with pytest.raises(TrustError, match="is not UTF-8 text"):
        load_trust_store(path, None)
