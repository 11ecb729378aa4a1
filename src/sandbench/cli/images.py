"""`sandbench images build python`: base images for container modules, without a registry."""

from __future__ import annotations

from pathlib import Path

import click

from sandbench.sandbox.cache import default_cache_dir
from sandbench.sandbox.container import build_base_image

__all__ = ["images_group"]


@click.group("images")
def images_group() -> None:
    """Base images for container modules."""


@images_group.command("build")
@click.argument("name", type=click.Choice(["python"]))
@click.option(
    "--mirror", default=None, help="Debian mirror URL (default: the machine's apt source)."
)
@click.option("--force", is_flag=True, help="Rebuild even when the image is up to date.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="SANDBENCH_CACHE_DIR",
    default=None,
    help="Where the packed root file system is kept (default: ~/.cache/sandbench).",
)
def build(name: str, mirror: str | None, force: bool, cache_dir: Path | None) -> None:
    """Build the NAME base image with debootstrap and import it (idempotent, cached).

    Exits 3 when no Docker Engine answers or debootstrap fails.
    """
    images = (cache_dir or default_cache_dir()) / "images"
    image = build_base_image(
        name, images, mirror=mirror, force=force, progress=lambda line: click.echo(line, err=True)
    )
    click.echo(image)
