"""`sandbench gate MODULE`: the registry's pre-publish gate."""

from __future__ import annotations

from pathlib import Path

import click

from sandbench.pipeline import gate

from .output import (
    cache_option,
    emit,
    host_from,
    host_options,
    osv_options,
    policy_from,
    report_options,
    signer_options,
    with_signers,
)
from .progress import cold_option, progress_for, quiet_option

__all__ = ["gate_command"]


@click.command("gate")
@click.argument("module", type=click.Path(path_type=Path))
@report_options
@cache_option
@host_options
@signer_options
@osv_options
@cold_option
@quiet_option
def gate_command(
    module: Path,
    formats: tuple[str, ...],
    output_dir: Path | None,
    output: Path | None,
    policy_file: Path | None,
    cache_dir: Path | None,
    database: str | None,
    resolve: tuple[str, ...],
    allowed_signers: Path | None,
    revoked_keys: Path | None,
    osv_url: str | None,
    advisory_db: Path | None,
    cold: bool,
    quiet: bool,
) -> None:
    """Pass or fail MODULE (a folder, .tar.gz or .zip) before it is published.

    Validates, verifies digest and signature, scans, smoke-tests in the sandbox and assesses
    under the policy. Exits 0 pass (healthy), 1 fail, 2 bad input, 3 environment problem.
    """
    host = host_from(database, resolve)
    policy = with_signers(policy_from(policy_file), allowed_signers, revoked_keys)
    with progress_for(quiet) as progress:
        report = gate(
            module,
            policy=policy,
            cache_dir=cache_dir,
            host=host,
            osv_url=osv_url,
            advisory_store=advisory_db,
            cold=cold,
            progress=progress,
        )
    emit(report, formats, output_dir, output)
