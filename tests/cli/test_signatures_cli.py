"""`sandbench sign`, `manifest validate`, and `check` / `gate` with a trust store: exit codes and
the `publisher-signature` rule in the JSON report, with real keys made by ssh-keygen."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import sandbench
from sandbench.cli import cli
from sandbench.reports import Policy, SignaturePolicy
from tests.conftest import EXAMPLES, ROOT
from tests.sshkeys import make_keys, ssh_keygen

NAME = "@examples/hello"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_keys(tmp_path_factory)


@pytest.fixture
def module(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLES / "hello", tmp_path / "hello"))


@pytest.fixture
def signers(tmp_path: Path, keys) -> Path:
    path = tmp_path / "allowed_signers"
    path.write_text(
        f'@examples/* namespaces="sandbench" {keys["alice"].public}\n'
        f"@financeiro/* {keys['bob'].public}\n"
    )
    return path


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def report(*args: object) -> tuple[int, dict]:
    result = invoke(*args, "--format", "json")
    return result.exit_code, json.loads(result.stdout)


def publisher_rule(data: dict) -> dict:
    (found,) = [r for r in data["rules"] if r["rule"] == "publisher-signature"]
    return found


def test_sign_then_validate(module, keys, signers):
    signed = invoke("sign", module, "--key", keys["alice"].path)
    assert signed.exit_code == 0, signed.output
    assert signed.output.startswith(f"signed {NAME} 1.0.0: wrote {module / 'module.sig'} (SHA256:")
    assert signed.output.rstrip().endswith(f"by ssh-ed25519 key {keys['alice'].fingerprint})")
    plain = invoke("manifest", "validate", module)
    assert plain.exit_code == 0
    assert plain.output.endswith(
        f"module.sig good signature by unknown key {keys['alice'].fingerprint}, "
        "signer not judged)\n"
    )
    trusted = invoke("manifest", "validate", module, "--allowed-signers", signers)
    assert trusted.output.endswith(
        f"module.sig verified for @examples/* by {keys['alice'].fingerprint})\n"
    )


def test_validate_refuses_a_bad_signature_in_one_line(module, keys):
    invoke("sign", module, "--key", keys["alice"].path)
    (module / "module.wat").write_text((module / "module.wat").read_text() + ";; changed\n")
    # Anyone can recompute the checksum in module.json; nobody else can redo module.sig.
    assert invoke("manifest", "digest", "--write", module).exit_code == 0
    result = invoke("manifest", "validate", module)
    assert result.exit_code == 2
    assert re.fullmatch(
        rf"sandbench: error: {re.escape(str(module.resolve() / 'module.sig'))}: does not verify over "
        r"SHA256:[0-9a-f]{64}: the module changed after it was signed, or another key or "
        r"digest was signed\n",
        result.output,
    )


def test_sign_with_an_encrypted_key_is_one_line_exit_2(module, keys):
    for passphrase in (None, "", "wrong horse"):
        result = CliRunner().invoke(
            cli, ["sign", str(module), "--key", str(keys["carol"].path)],
            env={"SANDBENCH_KEY_PASSPHRASE": passphrase},
        )  # fmt: skip
        assert result.exit_code == 2
        assert len(result.output.splitlines()) == 1
        why = "cannot be decrypted" if passphrase else "is encrypted with a passphrase"
        assert result.output.startswith(f"sandbench: error: {keys['carol'].path}: {why}")
        assert "SANDBENCH_KEY_PASSPHRASE" in result.output
        assert not (module / "module.sig").exists()


def test_sign_decrypts_a_key_with_the_passphrase_from_the_environment(module, keys, signers):
    result = CliRunner().invoke(
        cli, ["sign", str(module), "--key", str(keys["carol"].path)],
        env={"SANDBENCH_KEY_PASSPHRASE": "correct horse"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith(f"by ssh-ed25519 key {keys['carol'].fingerprint})")
    signers.write_text(f"@examples/* {keys['carol'].public}\n")
    done = invoke("manifest", "validate", module, "--allowed-signers", signers)
    assert done.output.endswith(
        f"module.sig verified for @examples/* by {keys['carol'].fingerprint})\n"
    )


def test_a_bad_allowed_signers_file_is_exit_2_before_anything_runs(module, tmp_path):
    bad = tmp_path / "bad_signers"
    bad.write_text("* cert-authority ssh-ed25519 AAAA\n")
    result = invoke("check", module, "--allowed-signers", bad)
    assert result.exit_code == 2
    assert result.output == (
        f"sandbench: error: {bad}: line 1: cert-authority is not supported: "
        "list each publisher's own key\n"
    )


def test_check_verified_exits_0(module, keys, signers, cache_dir):
    invoke("sign", module, "--key", keys["alice"].path)
    code, data = report("check", module, "--allowed-signers", signers, "--cache-dir", cache_dir)
    assert code == 0
    assert data["status"] == "healthy"
    assert publisher_rule(data)["status"] == "healthy"
    assert data["publisher"]["keyFingerprint"] == keys["alice"].fingerprint
    assert data["publisher"]["principal"] == "@examples/*"
    assert data["author"]["verified"] is True


def test_check_without_a_trust_store_does_not_degrade(module, keys, cache_dir):
    code, data = report("check", module, "--cache-dir", cache_dir)
    assert (code, data["status"]) == (0, "healthy")
    assert data["publisher"]["status"] == "unsigned"
    assert data["author"]["verified"] is False
    assert "signer not judged" in publisher_rule(data)["message"]


@pytest.mark.parametrize(
    ("signer", "revoke", "edit", "status", "expected"),
    [
        (None, False, False, "unsigned", "degraded"),
        ("weak", False, False, "bad-signature", "critical"),
        ("bob", False, False, "not-allowed", "critical"),
        ("alice", True, False, "revoked", "critical"),
        ("alice", False, True, "bad-signature", "critical"),
    ],
    ids=["unsigned", "rsa-1024", "other-scope", "revoked", "changed"],
)
def test_check_exit_1_with_the_rule_in_json(
    module, keys, signers, tmp_path, cache_dir, signer, revoke, edit, status, expected
):
    if signer == "weak":  # made by hand with ssh-keygen: a 1024-bit RSA key, refused
        digest = invoke("manifest", "digest", module).output
        signed = ssh_keygen("-Y", "sign", "-n", "sandbench", "-f", str(keys["weak"].path),
                            stdin=digest.encode())  # fmt: skip
        (module / "module.sig").write_text(signed.stdout)
    elif signer is not None:
        invoke("sign", module, "--key", keys[signer].path)
    if edit:  # and the checksum in module.json redone, as anyone can
        (module / "extra.txt").write_text("added after signing\n")
        invoke("manifest", "digest", "--write", module)
    revoked = tmp_path / "revoked_keys"
    revoked.write_text(keys["alice"].public + "\n" if revoke else "# none\n")
    code, data = report(
        "check", module, "--allowed-signers", signers, "--revoked-keys", revoked,
        "--cache-dir", cache_dir,
    )  # fmt: skip
    assert code == 1
    assert (data["status"], data["reasons"]) == (expected, ["publisher-signature"])
    assert data["publisher"]["status"] == status
    assert publisher_rule(data)["status"] == expected
    assert data["author"]["verified"] is False


def test_gate_with_the_policy_section(module, keys, signers, tmp_path, cache_dir):
    invoke("sign", module, "--key", keys["bob"].path)
    policy = tmp_path / "registry.toml"
    policy.write_text('[signatures]\nallowed_signers = "allowed_signers"\nunsigned = "critical"\n')
    code, data = report("gate", module, "--policy", policy, "--cache-dir", cache_dir)
    assert code == 1
    assert data["reasons"] == ["publisher-signature"]
    assert data["publisher"]["status"] == "not-allowed"
    assert data["publisher"]["allowedSigners"] == str(signers)
    (module / "module.sig").unlink()
    code, data = report("gate", module, "--policy", policy, "--cache-dir", cache_dir)
    assert (code, data["status"], data["publisher"]["status"]) == (1, "critical", "unsigned")
    invoke("sign", module, "--key", keys["alice"].path)
    code, data = report("gate", module, "--policy", policy, "--cache-dir", cache_dir)
    # Not the overall status: the gate's load test may be degraded on a saturated machine.
    assert (publisher_rule(data)["status"], data["author"]["verified"]) == ("healthy", True)
    assert "publisher-signature" not in data["reasons"]
    assert code == (0 if data["status"] == "healthy" else 1)


def test_the_documented_hand_commands(module, keys, signers):
    """docs/digest.md: sign with ssh-keygen by hand, and verify a module.sig with ssh-keygen."""
    doc = (ROOT / "docs" / "digest.md").read_text()
    sign = "sandbench manifest digest DIR | ssh-keygen -Y sign -n sandbench -f KEY > DIR/module.sig"
    verify = (
        "sandbench manifest digest DIR | ssh-keygen -Y verify -f ALLOWED_SIGNERS -I MODULE_NAME "
        "-n sandbench -s DIR/module.sig"
    )
    assert sign in doc
    assert verify in doc
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    words = {"DIR": str(module), "KEY": str(keys["alice"].path), "ALLOWED_SIGNERS": str(signers),
             "MODULE_NAME": NAME}  # fmt: skip
    for command in (sign, verify):
        for word, value in words.items():
            command = command.replace(word, f"'{value}'")
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            env=env, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    code = invoke("manifest", "validate", module, "--allowed-signers", signers)
    assert code.exit_code == 0
    assert "module.sig verified for @examples/*" in code.output


def test_sign_notes_a_stale_checksum_and_order_does_not_matter(module, keys, signers):
    (module / "notes.txt").write_text("added before signing\n")
    signed = invoke("sign", module, "--key", keys["alice"].path)
    assert signed.exit_code == 0
    assert signed.output.splitlines()[1].startswith(
        "note: module.json's signature does not match the digest; "
        "`sandbench manifest digest --write"
    )
    assert invoke("manifest", "digest", "--write", module).exit_code == 0
    after = invoke("manifest", "validate", module, "--allowed-signers", signers)
    assert after.exit_code == 0
    assert "signature valid, module.sig verified for @examples/*" in after.output


def test_gate_on_a_signed_archive(module, keys, signers, tmp_path, backend):
    invoke("sign", module, "--key", keys["alice"].path)
    archive = tmp_path / "hello-1.0.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(module, arcname="hello")
    policy = Policy(signatures=SignaturePolicy(allowed_signers=signers))
    report = sandbench.gate(archive, policy=policy, backend=backend, scanners=(), load_test=None)
    assert report.status == "healthy"
    assert report.publisher is not None
    assert (report.publisher.status, report.publisher.key_fingerprint) == (
        "verified",
        keys["alice"].fingerprint,
    )
    assert report.author is not None
    assert report.author.verified
