"""`sandbench manifest validate|schema|digest`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sandbench.errors import ManifestError
from sandbench.manifests import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    ModulePackage,
    PublisherStatus,
    TrustStore,
    json_schema_text,
    load,
    load_trust_store,
    verify_publisher,
    write_signature,
)
from sandbench.pipeline import suggest_security

from .output import signer_options

__all__ = ["manifest_group"]

_MODULE = click.argument("module", type=click.Path(path_type=Path))


@click.group("manifest")
def manifest_group() -> None:
    """Validate, describe and sign module manifests (module.json)."""


@manifest_group.command("validate")
@_MODULE
@signer_options
def validate(module: Path, allowed_signers: Path | None, revoked_keys: Path | None) -> None:
    """Check MODULE's module.json and module.sig; print one line per problem (exit 2) or a
    summary. With --allowed-signers, module.sig's key must be allowed for MODULE's name."""
    trust = load_trust_store(allowed_signers, revoked_keys)
    package = load(module)
    if package.signature_ok is False:
        raise ManifestError(
            package.root / MANIFEST_NAME,
            [
                f"signature: does not match the module's digest SHA256:{package.digest}; "
                "re-sign with `sandbench manifest digest --write`"
            ],
        )
    manifest = package.manifest
    signed = {None: "unsigned", True: "signature valid"}[package.signature_ok]
    runtime = manifest.runtime
    how = runtime.abi if runtime.kind == "wasm" else (runtime.image or f"build {runtime.build}")
    click.echo(
        f"{manifest.name} {manifest.version}: valid ({runtime.kind}/"
        f"{how}, {len(manifest.security.permissions)} permissions, {signed}, "
        f"{_publisher(package, trust)})"
    )


_REFUSED = (PublisherStatus.BAD_SIGNATURE, PublisherStatus.REVOKED, PublisherStatus.NOT_ALLOWED)


def _publisher(package: ModulePackage, trust: TrustStore | None) -> str:
    """module.sig in a few words; a bad, revoked or not-allowed one is a `ManifestError`."""
    check = verify_publisher(package, trust)
    if check.status in _REFUSED:
        raise ManifestError(
            package.root / SIGNATURE_NAME, [check.detail.removeprefix("module.sig: ")]
        )
    if check.status is PublisherStatus.UNSIGNED:
        return "no module.sig"
    if check.status is PublisherStatus.VERIFIED:
        return f"module.sig verified for {check.principal} by {check.fingerprint}"
    judged = "" if check.judged else ", signer not judged"
    return f"module.sig good signature by unknown key {check.fingerprint}{judged}"


@manifest_group.command("suggest")
@_MODULE
def suggest(module: Path) -> None:
    """Run MODULE's health calls and print the minimal `security` block, with the reasons.

    Permissions the module cannot have used are dropped; limits are sized from the measured
    peaks with x1.5 headroom. Replace the manifest's `security` with the printed block.
    """
    suggestion = suggest_security(module)
    click.echo(json.dumps(suggestion.model_dump(), indent=2))


@manifest_group.command("schema")
def schema() -> None:
    """Print the JSON Schema of module.json."""
    click.echo(json_schema_text())


@manifest_group.command("digest")
@_MODULE
@click.option("--write", is_flag=True, help="Store it as the manifest's signature.")
def digest(module: Path, write: bool) -> None:
    """Print MODULE's digest as SHA256:<hex> (docs/digest.md says what it covers)."""
    package = load(module)
    click.echo(write_signature(package) if write else f"SHA256:{package.digest}")
