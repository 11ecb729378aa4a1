"""`sandbench sign DIR --key KEY`: the publisher signature, `module.sig`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from sandbench.manifests import load, sign_module

__all__ = ["PASSPHRASE_ENV", "sign_command"]

# An environment variable rather than a prompt: registries sign in CI, where there is no TTY.
PASSPHRASE_ENV = "SANDBENCH_KEY_PASSPHRASE"  # noqa: S105 - the variable's name


@click.command("sign")
@click.argument("module", type=click.Path(path_type=Path))
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="An OpenSSH private key (ssh-keygen -t ed25519, ecdsa or rsa); if it is encrypted, "
    f"its passphrase comes from ${PASSPHRASE_ENV}.",
)
def sign_command(module: Path, key_file: Path) -> None:
    """Sign MODULE's digest with an SSH key into MODULE/module.sig (namespace `sandbench`).

    The same file as `sandbench manifest digest MODULE | ssh-keygen -Y sign -n sandbench
    -f KEY > MODULE/module.sig` (docs/digest.md). An encrypted key is decrypted with the
    passphrase in $SANDBENCH_KEY_PASSPHRASE. Exits 2 for an invalid module or a key it
    cannot use (encrypted without or with the wrong passphrase, DSA, RSA under 2048 bits).
    """
    package = load(module)
    passphrase = os.environ.get(PASSPHRASE_ENV) or None  # an empty one encrypts nothing
    written, key = sign_module(
        package, key_file, passphrase.encode() if passphrase is not None else None
    )
    click.echo(
        f"signed {package.manifest.name} {package.manifest.version}: wrote {written} "
        f"(SHA256:{package.digest} by {key.key_type} key {key.fingerprint})"
    )
    if package.signature_ok is False:  # module.sig is right; the checksum beside it is stale
        click.echo(
            "note: module.json's signature does not match the digest; "
            f"`sandbench manifest digest --write {module}` updates it (module.sig stays valid)"
        )
