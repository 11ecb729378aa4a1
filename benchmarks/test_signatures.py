"""Verifying a publisher signature: sandbench (through `cryptography`) against OpenSSH.

For each key type (Ed25519, ECDSA P-256, RSA 3072), the module is a copy of
examples/modules/vendas signed once with a key ssh-keygen made; the trust store allows that
key for `@examples/*`; each key type is its own benchmark group. The baseline (`raw`) is what a
registry could run instead: `ssh-keygen -Y verify` as a process on the same `module.sig`,
the same allowed-signers file and the same 72-byte message. sandbench's side is
`verify_publisher` on the loaded package (the digest is computed beforehand in both: the
message is the digest's text), which parses the armour, checks the key against the trust
store and verifies the signature with `cryptography` (OpenSSL).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from sandbench.manifests import (
    PublisherStatus,
    load,
    load_trust_store,
    sign_module,
    signed_message,
    verify_publisher,
)

from .conftest import EXAMPLES

KINDS = {"ed25519": ["-t", "ed25519"], "ecdsa-p256": ["-t", "ecdsa", "-b", "256"],
         "rsa-3072": ["-t", "rsa", "-b", "3072"]}  # fmt: skip


@pytest.fixture(scope="module", params=list(KINDS))
def signed(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("signed")
    key = folder / "publisher"
    subprocess.run(  # noqa: S603 - a fixed command line
        ["ssh-keygen", "-q", *KINDS[request.param], "-N", "", "-C", "bench", "-f", str(key)],  # noqa: S607
        check=True,
        timeout=60,
    )
    module = shutil.copytree(EXAMPLES / "vendas", folder / "vendas")
    sign_module(load(module), key)
    signers = folder / "allowed_signers"
    signers.write_text(f"@examples/* {(folder / 'publisher.pub').read_text()}")
    return load(module), signers, f"publisher-verify-{request.param}"


def test_verify_raw_ssh_keygen(benchmark, signed):
    package, signers, benchmark.group = signed
    command = [
        "ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", package.manifest.name,
        "-n", "sandbench", "-s", str(package.root / "module.sig"),
    ]  # fmt: skip
    message = signed_message(package.digest)

    def verify() -> int:
        done = subprocess.run(command, input=message, capture_output=True, check=False)  # noqa: S603
        return done.returncode

    assert benchmark.pedantic(verify, rounds=30, warmup_rounds=2) == 0


def test_verify_sandbench(benchmark, signed):
    package, signers, benchmark.group = signed
    trust = load_trust_store(signers, None)
    check = benchmark.pedantic(verify_publisher, args=(package, trust), rounds=30, warmup_rounds=2)
    assert check.status is PublisherStatus.VERIFIED
