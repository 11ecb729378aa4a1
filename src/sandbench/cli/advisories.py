"""`sandbench advisories import PATH` and `sandbench advisories status`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from sandbench.scanners import AdvisoryStore, default_store_path, import_export

__all__ = ["advisories_group"]

_DB = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The store file (default: $SANDBENCH_ADVISORY_DB or ~/.local/share/sandbench).",
)


@click.group("advisories")
def advisories_group() -> None:
    """The local OSV advisory store that `sandbench scan` uses offline."""


@advisories_group.command("import")
@click.argument("source", type=click.Path(path_type=Path))
@_DB
def import_command(source: Path, db: Path | None) -> None:
    """Load an OSV export (osv.dev's PyPI/all.zip, or a folder of OSV JSON) into the store.

    The previous store stays in place until the new one is complete.
    """
    target = db or default_store_path()
    summary = import_export(source, target)
    described = AdvisoryStore(target).describe().describe(datetime.now(UTC))
    click.echo(f"imported {summary.stored} records ({summary.rejected} left out): {described}")


@advisories_group.command("status")
@_DB
def status_command(db: Path | None) -> None:
    """Say which store `sandbench scan` would use and how old it is; exit 1 if there is none."""
    target = db or default_store_path()
    if not target.exists():
        click.echo(f"no advisory store at {target}: run `sandbench advisories import PATH`")
        raise SystemExit(1)
    click.echo(AdvisoryStore(target).describe().describe(datetime.now(UTC)))
