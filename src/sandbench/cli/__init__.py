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

import importlib
import os
import sys
from typing import Any

import click

from sandbench._version import __version__
from sandbench.errors import InvalidInput, SandbenchError
from sandbench.interrupts import interrupted
from sandbench.manifests.text import printable
from sandbench.sandbox.scratch import sweep_scratch

from .config import VERBOSITY, verbosity

__all__ = ["cli", "main"]

EXIT_INTERNAL = 3


# Each command's module is imported when the command runs, not at start-up: `check` does not
# pay for docker and requests (images), uvicorn and prometheus_client (serve) or the nightly
# machinery. With cyclonedx imported only for its format, a warm `check` of a Python
# component went from 0.74 to 0.55 CPU-s (benchmarks/test_check_warm.py).
_COMMANDS = {
    "advisories": "advisories:advisories_group",
    "bench": "bench:bench_command",
    "build": "build:build_command",
    "check": "check:check_command",
    "gate": "gate:gate_command",
    "images": "images:images_group",
    "manifest": "manifest:manifest_group",
    "new": "new:new_command",
    "nightly": "nightly:nightly_group",
    "report": "report:report_group",
    "scan": "scan:scan_command",
    "serve": "serve:serve_command",
    "sign": "sign:sign_command",
    "sweep": "sweep:sweep_command",
}


class _Group(click.Group):
    """Turns every `SandbenchError` into one line per problem and its exit code, and click's
    usage errors into the same style: `sandbench: error: ...`, a hint on a second line.
    Commands are imported on first use (`_COMMANDS`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _COMMANDS and cmd_name not in self.commands:
            module, name = _COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(f"{__name__}.{module}"), name)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        try:
            code = super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.UsageError as exc:
            click.echo(f"sandbench: error: {exc.format_message()}", err=True)
            if exc.ctx is not None:
                click.echo(f"Try '{exc.ctx.command_path} --help' for help.", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"sandbench: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort as exc:
            if isinstance(exc.__cause__, KeyboardInterrupt):  # outside `invoke` (see below)
                sys.exit(interrupted(exc.__cause__))
            click.echo("sandbench: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        # A signal while the arguments are parsed: click would turn it into `Abort` after
        # a blank line; it is the same one line and 130 / 143 as anywhere else.
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt as exc:
            raise click.exceptions.Exit(interrupted(exc)) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (sandbench._entry): unwound
            ctx.exit(interrupted(exc))
        except InvalidInput as exc:
            for problem in exc.problems:
                # Paths and problems quote names from uploads: no escape sequence gets through.
                click.echo(
                    f"sandbench: error: {printable(str(exc.path))}: {printable(problem)}", err=True
                )
            ctx.exit(exc.exit_code)
        except SandbenchError as exc:
            click.echo(f"sandbench: error: {exc}", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get("SANDBENCH_DEBUG") or verbosity() > 0:
                raise
            click.echo(
                f"sandbench: internal error: {type(exc).__name__}: {exc} "
                "(set SANDBENCH_DEBUG=1 for the traceback and please report it)",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "-V", "--version", prog_name="sandbench", message="%(prog)s %(version)s"
)
@click.option("-q", "--quiet", count=True, help="Print less: only the report (or nothing).")
@click.option("-v", "--verbose", count=True, help="Print more: which policy, tracebacks.")
@click.pass_context
def cli(ctx: click.Context, quiet: int, verbose: int) -> None:
    """Run platform modules in sandboxes with their manifest's limits and report their health.

    The policy comes from --policy, SANDBENCH_POLICY, or the first sandbench.toml (or
    pyproject.toml with [tool.sandbench]) from the working directory upwards.
    """
    ctx.meta[VERBOSITY] = verbose - quiet
    if ctx.invoked_subcommand != "sweep":  # that one reports what it removes
        sweep_scratch()  # temporary folders of sandbench processes that were killed


def main() -> None:
    """Entry point of the `sandbench` console script."""
    sys.exit(cli.main(prog_name="sandbench", standalone_mode=True))
