"""`sandbench sign DIR --key KEY`: the publisher signature, `module.sig`."""

from __future__ import annotations

from pathlib import Path

import click

from sandbench.manifests import load, sign_module

__all__ = ["sign_command"]


@click.command("sign")
@click.argument("module", type=click.Path(path_type=Path))
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="An unencrypted OpenSSH Ed25519 private key (ssh-keygen -t ed25519).",
)
def sign_command(module: Path, key_file: Path) -> None:
    """Sign MODULE's digest with an SSH key into MODULE/module.sig (namespace `sandbench`).

    The same file as `sandbench manifest digest MODULE | ssh-keygen -Y sign -n sandbench
    -f KEY > MODULE/module.sig` (docs/digest.md). Exits 2 for an invalid module or a key
    it cannot use (an encrypted one: use ssh-keygen then).
    """
    package = load(module)
    written, key = sign_module(package, key_file)
    click.echo(
        f"signed {package.manifest.name} {package.manifest.version}: wrote {written} "
        f"(SHA256:{package.digest} by {key.key_type} key {key.fingerprint})"
    )
    if package.signature_ok is False:  # module.sig is right; the checksum beside it is stale
        click.echo(
            "note: module.json's signature does not match the digest; "
            f"`sandbench manifest digest --write {module}` updates it (module.sig stays valid)"
        )
