"""`sandbench sweep`: remove what killed sandbench processes left behind."""

from __future__ import annotations

import click

from sandbench.errors import BackendUnavailable
from sandbench.sandbox.scratch import sweep_scratch

__all__ = ["sweep_command"]


@click.command("sweep")
def sweep_command() -> None:
    """Remove leftovers of sandbench processes that no longer run.

    Temporary folders (`sandbench-storage-*`, `sandbench-budgets-*`) of this user and, when a
    Docker Engine answers, sandbench containers, networks and host-socket folders. What a
    running sandbench process owns is never touched. Every command also sweeps folders
    when it starts; run this after a SIGKILL or to clear containers.
    """
    folders = sweep_scratch()
    click.echo(f"sandbench: removed {len(folders)} leftover temporary folder(s)")
    for path in folders:
        click.echo(f"  {path}")
    try:
        from sandbench.sandbox.container import connect, sweep

        client = connect()
    except BackendUnavailable as exc:
        click.echo(f"sandbench: containers not checked: {exc}")
        return
    try:
        removed = sweep(client)
    finally:
        client.close()
    click.echo(f"sandbench: removed {removed} leftover container(s), network(s), socket folder(s)")
