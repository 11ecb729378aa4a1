"""The `sandbench` command: parse, call the pipeline, render. Exit codes:

| code | meaning |
|---|---|
| 0 | pass (healthy) |
| 1 | gate failed (degraded or critical) |
| 2 | usage or input error (e.g. an invalid manifest) |
| 3 | environment error (e.g. no backend can run here) |
| 130 / 143 | interrupted by Ctrl-C / SIGTERM: stopped and cleaned up, one line on stderr |
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from sandbench._version import __version__
from sandbench.errors import InvalidInput, SandbenchError
from sandbench.interrupts import interrupted
from sandbench.manifests.text import printable
from sandbench.sandbox.scratch import sweep_scratch

from .advisories import advisories_group
from .bench import bench_command
from .build import build_command
from .check import check_command
from .gate import gate_command
from .images import images_group
from .manifest import manifest_group
from .nightly import nightly_group
from .report import report_group
from .scan import scan_command
from .serve import serve_command
from .sign import sign_command
from .sweep import sweep_command

__all__ = ["cli", "main"]

EXIT_INTERNAL = 3


class _Group(click.Group):
    """Turns every `SandbenchError` into one line per problem and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (sandbench._entry): unwound
            ctx.exit(interrupted(exc))
        except InvalidInput as exc:
            for problem in exc.problems:
                # Paths and problems quote names from uploads: no escape sequence gets through.
                click.echo(f"sandbench: {printable(str(exc.path))}: {printable(problem)}", err=True)
            ctx.exit(exc.exit_code)
        except SandbenchError as exc:
            hint = f" ({exc.hint})" if exc.hint else ""
            click.echo(f"sandbench: error: {exc}{hint}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get("SANDBENCH_DEBUG"):
                raise
            click.echo(
                f"sandbench: internal error: {type(exc).__name__}: {exc} "
                "(set SANDBENCH_DEBUG=1 for the traceback and please report it)",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sandbench")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Run platform modules in sandboxes with their manifest's limits and report their health."""
    if ctx.invoked_subcommand != "sweep":  # that one reports what it removes
        sweep_scratch()  # temporary folders of sandbench processes that were killed


cli.add_command(bench_command)
cli.add_command(build_command)
cli.add_command(check_command)
cli.add_command(gate_command)
cli.add_command(images_group)
cli.add_command(manifest_group)
cli.add_command(report_group)
cli.add_command(scan_command)
cli.add_command(advisories_group)
cli.add_command(serve_command)
cli.add_command(sign_command)
cli.add_command(sweep_command)
cli.add_command(nightly_group)


def main() -> None:
    """Entry point of the `sandbench` console script."""
    sys.exit(cli.main(prog_name="sandbench", standalone_mode=True))
