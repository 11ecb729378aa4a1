"""`sandbench build MODULE`: a Python module folder -> a WebAssembly component."""

from __future__ import annotations

from pathlib import Path

import click

from sandbench.components import build
from sandbench.manifests import format_bytes

from .progress import progress_for, quiet_option

__all__ = ["build_command"]


@click.command("build")
@click.argument("module", type=click.Path(path_type=Path))
@click.option(
    "--no-cache", is_flag=True, help="Run componentize-py even when the sources are unchanged."
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    help="Where built components are kept (default: $SANDBENCH_CACHE_DIR or ~/.cache/sandbench).",
)
@quiet_option
def build_command(module: Path, no_cache: bool, cache_dir: Path | None, quiet: bool) -> None:
    """Build MODULE's Python source (`runtime.source`) into its component (`runtime.entry`).

    Uses componentize-py (the version sandbench pins) and the world sandbench:platform/module
    (docs/components.md), then writes the module's digest into module.json as its signature.
    """
    with progress_for(quiet) as progress:
        result = build(module, cache_dir=cache_dir, use_cache=not no_cache, progress=progress)
    how = "from the build cache" if result.cached else f"componentize-py {result.componentize_py}"
    click.echo(
        f"built {result.component} ({format_bytes(result.size_bytes)}, "
        f"{result.seconds:.1f} s, {how}); signature {result.signature}"
    )
