"""`sandbench check DIR`."""

from __future__ import annotations

from pathlib import Path

import click

from sandbench.pipeline import check

from .output import (
    cache_option,
    emit,
    host_from,
    host_options,
    policy_from,
    report_options,
    signer_options,
    with_signers,
)
from .progress import cold_option, progress_for, quiet_option

__all__ = ["check_command"]


@click.command("check")
@click.argument("module", type=click.Path(path_type=Path))
@report_options
@click.option(
    "--calls",
    type=click.IntRange(1, 1000),
    default=5,
    show_default=True,
    help="How many times to send the health request.",
)
@click.option(
    "--storage",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder whose sub-folders are the storage buckets (default: empty, temporary).",
)
@cache_option
@host_options
@signer_options
@cold_option
@quiet_option
def check_command(
    module: Path,
    formats: tuple[str, ...],
    output_dir: Path | None,
    output: Path | None,
    policy_file: Path | None,
    calls: int,
    storage: Path | None,
    cache_dir: Path | None,
    database: str | None,
    resolve: tuple[str, ...],
    allowed_signers: Path | None,
    revoked_keys: Path | None,
    cold: bool,
    quiet: bool,
) -> None:
    """Validate MODULE, load it in its sandbox (WASM or container) and send its health request.

    Exits 0 when healthy, 1 when degraded or critical, 2 for an invalid module or options
    and 3 when the sandbox cannot run here.
    """
    policy = with_signers(policy_from(policy_file), allowed_signers, revoked_keys)
    host = host_from(database, resolve)
    with progress_for(quiet) as progress:
        report = check(
            module,
            policy=policy,
            storage=storage,
            calls=calls,
            cache_dir=cache_dir,
            host=host,
            cold=cold,
            progress=progress,
        )
    emit(report, formats, output_dir, output)
