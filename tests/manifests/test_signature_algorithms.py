"""Every key type ssh-keygen makes and OpenSSH signs with, through `cryptography`: Ed25519,
ECDSA P-256/384/521 and RSA (rsa-sha2-512 / rsa-sha2-256), both ways with real ssh-keygen
keys; and the pairing of key type and signature algorithm (no algorithm confusion)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_ssh_private_key,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbench.errors import TrustError
from sandbench.manifests import (
    PublisherStatus,
    load,
    load_trust_store,
    sign_module,
    signed_message,
    sshsig,
)
from sandbench.manifests import verify_publisher as verify
from sandbench.manifests.sshwire import Reader, mpint, string
from tests.manifests.conftest import WriteModule
from tests.manifests.samples import EXAMPLE
from tests.sshkeys import Key, make_key, ssh_keygen

NAME = EXAMPLE["name"]
KINDS = {  # id -> (ssh-keygen -t, -b, the key type OpenSSH names)
    "ed25519": ("ed25519", 0, "ssh-ed25519"),
    "ecdsa-p256": ("ecdsa", 256, "ecdsa-sha2-nistp256"),
    "ecdsa-p384": ("ecdsa", 384, "ecdsa-sha2-nistp384"),
    "ecdsa-p521": ("ecdsa", 521, "ecdsa-sha2-nistp521"),
    "rsa-2048": ("rsa", 2048, "ssh-rsa"),
}
PASSPHRASE = "correct horse battery"  # noqa: S105 - a test key's


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Key]:
    folder = tmp_path_factory.mktemp("keys")
    made = {name: make_key(folder, name, kind=t, bits=b) for name, (t, b, _) in KINDS.items()}
    made["rsa-1024"] = make_key(folder, "rsa-1024", kind="rsa", bits=1024)
    made["dsa"] = make_key(folder, "dsa", kind="dsa")
    for name in ("ecdsa-p384", "rsa-2048"):
        made[f"{name}-locked"] = make_key(folder, f"{name}-locked", kind=KINDS[name][0],
                                          bits=KINDS[name][1], passphrase=PASSPHRASE)  # fmt: skip
    return made


@pytest.fixture
def module(write_module: WriteModule) -> Path:
    return write_module({"lib/data.txt": "rows\n"}, manifest=EXAMPLE)


def trust(tmp_path: Path, key: Key):
    path = tmp_path / "allowed_signers"
    path.write_text(f"@plataforma/* {key.public}\n")
    return load_trust_store(path, None)


def hand_sign(root: Path, key: Key) -> None:
    """`sandbench manifest digest DIR | ssh-keygen -Y sign -n sandbench -f KEY > DIR/module.sig`."""
    done = ssh_keygen("-Y", "sign", "-n", "sandbench", "-f", str(key.path),
                      stdin=signed_message(load(root).digest))  # fmt: skip
    assert done.returncode == 0, done.stderr
    (root / "module.sig").write_text(done.stdout)


def ssh_keygen_verifies(root: Path, key: Key, tmp_path: Path) -> bool:
    signers = tmp_path / "ssh_allowed_signers"
    signers.write_text(f"{NAME} {key.openssh}\n")
    done = ssh_keygen(
        "-Y", "verify", "-f", str(signers), "-I", NAME, "-n", "sandbench",
        "-s", str(root / "module.sig"), stdin=signed_message(load(root).digest),
    )  # fmt: skip
    return done.returncode == 0 and f'Good "sandbench" signature for {NAME}' in done.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_ssh_keygen_signs_sandbench_verifies(module, keys, tmp_path, kind):
    hand_sign(module, keys[kind])
    check = verify(load(module), trust(tmp_path, keys[kind]))
    assert check.status is PublisherStatus.VERIFIED, check.detail
    assert (check.key_type, check.fingerprint) == (KINDS[kind][2], keys[kind].fingerprint)


@pytest.mark.parametrize("kind", KINDS)
def test_sandbench_signs_ssh_keygen_verifies(module, keys, tmp_path, kind):
    _, key = sign_module(load(module), keys[kind].path)
    assert key.fingerprint == keys[kind].fingerprint
    assert ssh_keygen_verifies(module, keys[kind], tmp_path)
    assert verify(load(module), trust(tmp_path, keys[kind])).status is PublisherStatus.VERIFIED


@pytest.mark.parametrize("kind", KINDS)
def test_a_change_after_signing_breaks_every_key_type(module, keys, tmp_path, kind):
    sign_module(load(module), keys[kind].path)
    (module / "lib" / "data.txt").write_text("rows, changed\n")
    check = verify(load(module), trust(tmp_path, keys[kind]))
    assert check.status is PublisherStatus.BAD_SIGNATURE
    assert "does not verify" in check.detail
    assert not ssh_keygen_verifies(module, keys[kind], tmp_path)


@pytest.mark.parametrize("kind", ["ed25519", "rsa-2048"])
def test_deterministic_algorithms_write_the_same_bytes_as_ssh_keygen(module, keys, kind):
    # Ed25519 and RSA PKCS#1 v1.5 are deterministic (ECDSA is not): same key, same file.
    hand_sign(module, keys[kind])
    by_hand = (module / "module.sig").read_bytes()
    sign_module(load(module), keys[kind].path)
    assert (module / "module.sig").read_bytes() == by_hand


@pytest.mark.parametrize("kind", ["ecdsa-p384", "rsa-2048"])
def test_an_encrypted_key_signs_with_its_passphrase(module, keys, tmp_path, kind):
    locked = keys[f"{kind}-locked"]
    with pytest.raises(TrustError) as info:
        sign_module(load(module), locked.path)
    assert info.value.problems == [
        "is encrypted with a passphrase: set SANDBENCH_KEY_PASSPHRASE to it, or sign with "
        "`ssh-keygen -Y sign -n sandbench` (docs/digest.md)"
    ]
    with pytest.raises(TrustError) as info:
        sign_module(load(module), locked.path, b"wrong horse")
    assert info.value.problems == [
        "cannot be decrypted: the passphrase in SANDBENCH_KEY_PASSPHRASE is wrong, "
        "or the key is corrupt"
    ]
    assert not (module / "module.sig").exists()
    sign_module(load(module), locked.path, PASSPHRASE.encode())
    assert ssh_keygen_verifies(module, locked, tmp_path)


def test_a_passphrase_given_for_an_unencrypted_key_is_ignored(module, keys, tmp_path):
    sign_module(load(module), keys["ed25519"].path, b"not needed")
    assert ssh_keygen_verifies(module, keys["ed25519"], tmp_path)


# -- refused keys ------------------------------------------------------------------------------


def test_an_rsa_key_under_2048_bits_is_refused_both_ways(module, keys, tmp_path):
    with pytest.raises(TrustError) as info:
        sign_module(load(module), keys["rsa-1024"].path)
    assert info.value.problems == ["is a 1024-bit RSA key; sandbench needs at least 2048 bits"]
    hand_sign(module, keys["rsa-1024"])  # OpenSSH 9.2 still signs with it
    check = verify(load(module), trust(tmp_path, keys["rsa-1024"]))
    assert (check.status, check.detail) == (
        PublisherStatus.BAD_SIGNATURE,
        "module.sig: is a 1024-bit RSA key; sandbench needs at least 2048 bits",
    )


def test_a_dsa_key_is_refused_both_ways(module, keys, tmp_path):
    with pytest.raises(TrustError) as info:
        sign_module(load(module), keys["dsa"].path)
    assert info.value.problems[0].startswith("is a ssh-dss key; sandbench signs with ssh-ed25519")
    signed = ssh_keygen("-Y", "sign", "-n", "sandbench", "-f", str(keys["dsa"].path),
                        stdin=signed_message(load(module).digest))  # fmt: skip
    if signed.returncode != 0:  # an OpenSSH built without DSA: forge the framing instead
        blob = _key_blob(keys["dsa"])
        signed.stdout = sshsig.armour(_sshsig(blob, string(b"ssh-dss") + string(bytes(40))))
    (module / "module.sig").write_text(signed.stdout)
    check = verify(load(module), trust(tmp_path, keys["dsa"]))
    assert check.status is PublisherStatus.BAD_SIGNATURE
    assert check.detail.startswith("module.sig: key type ssh-dss is not supported")


# -- algorithm confusion: the signature's algorithm must be the key's ---------------------------


def _key_blob(key: Key) -> bytes:
    return base64.b64decode(key.public.split()[1])


def _sshsig(key_blob: bytes, signature: bytes, hash_algorithm: bytes = b"sha512") -> bytes:
    fields = (key_blob, b"sandbench", b"", hash_algorithm, signature)
    return b"SSHSIG" + (1).to_bytes(4, "big") + b"".join(string(f) for f in fields)


def _to_be_signed(root: Path, hash_algorithm: str = "sha512") -> bytes:
    """What the key signs (PROTOCOL.sshsig), built here independently of sshsig.py."""
    digest = hashlib.new(hash_algorithm, signed_message(load(root).digest)).digest()
    fields = (b"sandbench", b"", hash_algorithm.encode(), digest)
    return b"SSHSIG" + b"".join(string(f) for f in fields)


def _private(key: Key):
    return load_ssh_private_key(key.path.read_bytes(), None)


def _write(root: Path, key: Key, signature: bytes) -> None:
    (root / "module.sig").write_text(sshsig.armour(_sshsig(_key_blob(key), signature)))


def test_rsa_sha2_256_is_accepted_as_openssh_accepts_it(module, keys, tmp_path):
    key = keys["rsa-2048"]
    raw = _private(key).sign(_to_be_signed(module), padding.PKCS1v15(), hashes.SHA256())
    _write(module, key, string(b"rsa-sha2-256") + string(raw))
    assert verify(load(module), trust(tmp_path, key)).status is PublisherStatus.VERIFIED
    assert ssh_keygen_verifies(module, key, tmp_path)


@pytest.mark.parametrize(
    ("kind", "algorithm", "make", "why"),
    [
        # RSA over SHA-1, the old `ssh-rsa` signature algorithm: refused however valid.
        ("rsa-2048", b"ssh-rsa",
         lambda k, d: k.sign(d, padding.PKCS1v15(), hashes.SHA1()),  # noqa: S303
         "a ssh-rsa signature does not belong to a ssh-rsa key "
         "(expected rsa-sha2-512 or rsa-sha2-256)"),
        # The label says SHA-256, the bytes are over SHA-512: the label picks the hash.
        ("rsa-2048", b"rsa-sha2-256",
         lambda k, d: k.sign(d, padding.PKCS1v15(), hashes.SHA512()), "does not verify"),
        # A P-256 key's signature made over SHA-384 and labelled as P-384's algorithm.
        ("ecdsa-p256", b"ecdsa-sha2-nistp384",
         lambda k, d: _ecdsa_raw(k.sign(d, ec.ECDSA(hashes.SHA384()))),
         "a ecdsa-sha2-nistp384 signature does not belong to a ecdsa-sha2-nistp256 key"),
        # Ed25519's algorithm name over an RSA key.
        ("rsa-2048", b"ssh-ed25519", lambda k, d: bytes(64),
         "a ssh-ed25519 signature does not belong to a ssh-rsa key"),
        # An RSA signature presented for an Ed25519 key.
        ("ed25519", b"rsa-sha2-512", lambda k, d: bytes(256),
         "a rsa-sha2-512 signature does not belong to a ssh-ed25519 key"),
    ],
    ids=["rsa-sha1", "rsa-hash-swap", "ecdsa-curve-swap", "ed25519-label-on-rsa", "rsa-on-ed25519"],
)  # fmt: skip
def test_a_signature_algorithm_must_belong_to_the_key(
    module, keys, tmp_path, kind, algorithm, make, why
):
    key = keys[kind]
    _write(module, key, string(algorithm) + string(make(_private(key), _to_be_signed(module))))
    check = verify(load(module), trust(tmp_path, key))
    assert check.status is PublisherStatus.BAD_SIGNATURE
    assert why in check.detail
    assert not ssh_keygen_verifies(module, key, tmp_path)


def _ecdsa_raw(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return mpint(r) + mpint(s)


def test_a_signature_moved_onto_another_key_type_does_not_verify(module, keys, tmp_path):
    # An ECDSA signature's bytes under the label of the key now in the file.
    hand_sign(module, keys["ecdsa-p256"])
    blob = base64.b64decode("".join((module / "module.sig").read_text().splitlines()[1:-1]))
    reader = Reader(blob)
    reader.take(10)
    for _ in range(4):
        reader.string()
    signature = Reader(reader.string())
    signature.string()
    raw = signature.string()
    _write(module, keys["ecdsa-p384"], string(b"ecdsa-sha2-nistp384") + string(raw))
    check = verify(load(module), trust(tmp_path, keys["ecdsa-p384"]))
    assert (check.status, check.detail.split(": ", 1)[1][:15]) == (
        PublisherStatus.BAD_SIGNATURE,
        "does not verify",
    )


@pytest.mark.parametrize("numbers", [(0, 1), (1, 0), (-1, 5)], ids=["r0", "s0", "negative"])
def test_ecdsa_numbers_must_be_positive(module, keys, tmp_path, numbers):
    key = keys["ecdsa-p256"]
    raw = b"".join(string(n.to_bytes(8, "big", signed=True) if n else b"") for n in numbers)
    _write(module, key, string(b"ecdsa-sha2-nistp256") + string(raw))
    check = verify(load(module), trust(tmp_path, key))
    assert check.status is PublisherStatus.BAD_SIGNATURE
    assert check.detail == "module.sig: an ECDSA signature number is not positive"


# -- one key, one encoding: a re-encoded key cannot slip past the revocation list ----------------


def _reencoded_rsa(key: Key) -> bytes:
    reader = Reader(_key_blob(key))
    key_type, e, n = reader.string(), reader.string(), reader.string()
    return string(key_type) + string(b"\0" + e) + string(n)  # e with a needless zero byte


def _compressed_ecdsa(key: Key) -> bytes:
    point = _private(key).public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    return string(b"ecdsa-sha2-nistp256") + string(b"nistp256") + string(point)


@pytest.mark.parametrize(
    ("kind", "reencode"),
    [("rsa-2048", _reencoded_rsa), ("ecdsa-p256", _compressed_ecdsa)],
    ids=["rsa-padded-exponent", "ecdsa-compressed-point"],
)
def test_a_re_encoded_revoked_key_is_refused(module, keys, tmp_path, kind, reencode):
    key = keys[kind]
    sign_module(load(module), key.path)
    sig = (module / "module.sig").read_text()
    reader = Reader(base64.b64decode("".join(sig.strip().splitlines()[1:-1])))
    reader.take(10)
    reader.string()  # the key, replaced by another encoding of the same key
    rest = [reader.string() for _ in range(4)]
    blob = b"SSHSIG" + (1).to_bytes(4, "big") + string(reencode(key))
    (module / "module.sig").write_text(sshsig.armour(blob + b"".join(string(f) for f in rest)))
    revoked = tmp_path / "revoked_keys"
    revoked.write_text(key.public + "\n")
    check = verify(load(module), load_trust_store(None, revoked))
    assert check.status is PublisherStatus.BAD_SIGNATURE
    assert check.detail in (
        f"module.sig: the {KINDS[kind][2]} key is not canonically encoded",
        f"module.sig: the {KINDS[kind][2]} key is malformed",
    )


# -- whatever the bytes, a verdict and never a traceback ------------------------------------------


@pytest.fixture(scope="module")
def real_signatures(keys, tmp_path_factory) -> list[tuple[str, bytes]]:
    """(message, blob) of a real module.sig for each key type, made by ssh-keygen."""
    made = []
    message = signed_message("ab" * 32)
    for kind in KINDS:
        done = ssh_keygen("-Y", "sign", "-n", "sandbench", "-f", str(keys[kind].path),
                          stdin=message)  # fmt: skip
        made.append(base64.b64decode("".join(done.stdout.strip().splitlines()[1:-1])))
    return [(message.decode(), blob) for blob in made]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_signatures_of_every_type_only_raise_signature_error(real_signatures, data):
    message, blob = data.draw(st.sampled_from(real_signatures))
    at = data.draw(st.integers(0, len(blob) - 1))
    edit = data.draw(st.sampled_from(["flip", "cut", "insert", "length"]))
    if edit == "flip":
        mutated = blob[:at] + bytes([blob[at] ^ data.draw(st.integers(1, 255))]) + blob[at + 1 :]
    elif edit == "cut":
        mutated = blob[:at] + blob[at + data.draw(st.integers(1, 40)) :]
    elif edit == "insert":
        mutated = blob[:at] + data.draw(st.binary(min_size=1, max_size=40)) + blob[at:]
    else:  # overwrite 4 bytes, as a length field would be
        mutated = blob[:at] + data.draw(st.binary(min_size=4, max_size=4)) + blob[at + 4 :]
    problem = ""
    try:  # anything but SignatureError escaping would be a traceback instead of a verdict
        key = sshsig.verify(sshsig.armour(mutated), "sandbench", message.encode())
    except sshsig.SignatureError as exc:
        problem = str(exc)
    else:  # only a change outside what is signed could verify, and only for the same key
        assert key.blob in blob
    assert "\n" not in problem
