"""`sandbench manifest validate|schema|digest`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sandbench.errors import ManifestError
from sandbench.manifests import MANIFEST_NAME, json_schema_text, load, write_signature
from sandbench.pipeline import suggest_security

__all__ = ["manifest_group"]

_MODULE = click.argument("module", type=click.Path(path_type=Path))


@click.group("manifest")
def manifest_group() -> None:
    """Validate, describe and sign module manifests (module.json)."""


@manifest_group.command("validate")
@_MODULE
def validate(module: Path) -> None:
    """Check MODULE's module.json; print one line per problem (exit 2) or a summary."""
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
        f"{how}, {len(manifest.security.permissions)} permissions, {signed})"
    )


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
