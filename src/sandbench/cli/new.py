"""`sandbench new DIR`: start a Python module (module.json and app.py) to build and check."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from sandbench.components import scaffold

__all__ = ["new_command"]


@click.command("new")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--name",
    default=None,
    help="The module's name, `name` or `@scope/name` (default: the folder's name).",
)
@click.option(
    "--license",
    "license_",
    default=None,
    help="An SPDX expression for module.json, e.g. MIT (the gate flags a module without one).",
)
def new_command(directory: Path, name: str | None, license_: str | None) -> None:
    """Write a Python module into DIRECTORY (new or empty): module.json and app.py.

    Then `sandbench build DIRECTORY` makes its WebAssembly component and `sandbench check
    DIRECTORY` reports its health. Exits 2 when DIRECTORY is not empty or the name is invalid.
    """
    for path in scaffold(directory, name, license_):
        click.echo(f"wrote {path}")
    if license_ is None:
        click.echo('note: no "license" in module.json yet; `sandbench gate` asks for one')
    folder = shlex.quote(str(directory))
    click.echo(f"next: sandbench build {folder} && sandbench check {folder}")
