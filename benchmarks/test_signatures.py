"""Verifying a publisher signature: sandbench's pure-Python Ed25519 against OpenSSH.

The module is a copy of examples/modules/vendas signed once with an Ed25519 key ssh-keygen
made; the trust store allows that key for `@examples/*`. The baseline (`raw`) is what a
registry could run instead: `ssh-keygen -Y verify` as a process on the same `module.sig`,
the same allowed-signers file and the same 72-byte message. sandbench's side is
`verify_publisher` on the loaded package (the digest is computed beforehand in both: the
message is the digest's text), which parses the armour, checks the key against the trust
store and runs the Ed25519 equation in Python.
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

GROUP = "publisher-verify"


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("signed")
    key = folder / "publisher"
    subprocess.run(  # noqa: S603 - a fixed command line
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", str(key)],  # noqa: S607
        check=True,
        timeout=60,
    )
    module = shutil.copytree(EXAMPLES / "vendas", folder / "vendas")
    sign_module(load(module), key)
    signers = folder / "allowed_signers"
    signers.write_text(f"@examples/* {(folder / 'publisher.pub').read_text()}")
    return load(module), signers


def test_verify_raw_ssh_keygen(benchmark, signed):
    benchmark.group = GROUP
    package, signers = signed
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
    benchmark.group = GROUP
    package, signers = signed
    trust = load_trust_store(signers, None)
    check = benchmark.pedantic(verify_publisher, args=(package, trust), rounds=30, warmup_rounds=2)
    assert check.status is PublisherStatus.VERIFIED
