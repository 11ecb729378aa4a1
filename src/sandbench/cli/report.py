"""`sandbench report schema`."""

from __future__ import annotations

import click

from sandbench.reports import json_schema_text

__all__ = ["report_group"]


@click.group("report")
def report_group() -> None:
    """Describe the health report format."""


@report_group.command("schema")
def schema() -> None:
    """Print the JSON Schema of the health report (versioned by schemaVersion)."""
    click.echo(json_schema_text())
