"""`sandbench serve MODULE...`."""

from __future__ import annotations

from pathlib import Path

import click

from sandbench.pipeline import serve

from .config import resolve_policy
from .output import host_from, resolve_option

__all__ = ["serve_command"]


@click.command("serve")
@click.argument("modules", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--instances",
    type=click.IntRange(1, 256),
    default=4,
    show_default=True,
    help="Live instances per module (each serves one request at a time).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes serving the port, each with its own instances; a module's CPU share "
    "is one for all of them.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="SANDBENCH_CACHE_DIR",
    default=None,
    help="Where compiled modules are cached (default: ~/.cache/sandbench).",
)
@resolve_option
def serve_command(
    modules: tuple[Path, ...],
    host: str,
    port: int,
    instances: int,
    workers: int,
    cache_dir: Path | None,
    resolve: tuple[str, ...],
) -> None:
    """Serve MODULES over HTTP at /{folder name}/..., with /healthz and /metrics.

    Each module runs in the WASM sandbox with its manifest's limits. A module that traps,
    spins or cannot load answers 5xx for its own requests; the others keep serving.
    """
    policy = resolve_policy(None)  # the configuration found upwards, else the built-in one
    try:
        serve(list(modules), listen=host, port=port, instances=instances, policy=policy,
              cache_dir=cache_dir, host=host_from(None, resolve), announce=_announce,
              workers=workers)  # fmt: skip
    except ValueError as exc:  # two modules at one route
        raise click.UsageError(str(exc)) from None


def _announce(line: str) -> None:
    click.echo(f"sandbench: {line}", err=True)
