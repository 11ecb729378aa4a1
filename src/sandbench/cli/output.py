"""Options and output shared by the commands that produce a health report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sandbench.errors import UsageProblem
from sandbench.hostapi import HostSettings
from sandbench.hostapi.http import HttpSettings
from sandbench.reports import Format, HealthReport, Policy, Status, render

from .config import colour, resolve_policy, verbosity

__all__ = [
    "cache_option",
    "emit",
    "host_from",
    "host_options",
    "osv_options",
    "output_option",
    "pins_from",
    "policy_option",
    "report_options",
    "resolve_option",
    "signer_options",
    "with_signers",
    "write_output",
]

F = TypeVar("F", bound=Callable[..., Any])


def report_options(func: F) -> F:
    """`-f/--format` (repeatable), `-o/--output`, `--output-dir` and `--policy`."""
    func = click.option(
        "-f",
        "--format",
        "formats",
        type=click.Choice([f.value for f in Format]),
        multiple=True,
        envvar="SANDBENCH_FORMAT",
        help="text (default), json, markdown, html, sarif or junit; repeat with --output-dir.",
    )(func)
    func = click.option(
        "--output-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Write report.<ext> for each --format into this folder.",
    )(func)
    return output_option(policy_option(func))


def output_option(func: F) -> F:
    """`-o/--output FILE`: the one format into FILE instead of stdout."""
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write the output to FILE instead of stdout.",
    )(func)


def write_output(text: str, output: Path | None) -> None:
    """`text` to `output`, or to stdout without one. Raises `UsageProblem` if it cannot."""
    if output is None:
        click.echo(text, nl=False, color=colour())
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageProblem(f"cannot write {output}: {exc.strerror}") from None


def cache_option(func: F) -> F:
    """`--cache-dir DIR` for compiled modules."""
    return click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="SANDBENCH_CACHE_DIR",
        default=None,
        help="Where compiled modules are cached (default: ~/.cache/sandbench).",
    )(func)


def host_options(func: F) -> F:
    """`--database` and `--resolve`: where the host API's database and HTTP reach."""
    func = click.option(
        "--database",
        envvar="SANDBENCH_DATABASE",
        default=None,
        help="Folder for the SQLite schemas, or a postgresql:// URL (default: private, temporary).",
    )(func)
    return resolve_option(func)


def resolve_option(func: F) -> F:
    """`--resolve HOST:PORT:ADDR` (curl's) or `HOST=ADDR:PORT`, repeatable."""
    return click.option(
        "--resolve",
        multiple=True,
        metavar="HOST:PORT:ADDR",
        help="Pin HOST to ADDR (curl's syntax; HOST=ADDR:PORT also works): the http capability "
        "and the container egress proxy connect there, even to a private address.",
    )(func)


def host_from(database: str | None, resolve: tuple[str, ...]) -> HostSettings | None:
    """The host API settings the options give, or None for the defaults."""
    if database is None and not resolve:
        return None
    settings = HostSettings(http=HttpSettings(resolve=pins_from(resolve)))
    if database is None:
        return settings
    if database.startswith(("postgresql://", "postgres://")):
        return settings.model_copy(update={"postgres_url": database})
    return settings.model_copy(update={"database_dir": Path(database)})


def pins_from(resolve: tuple[str, ...]) -> dict[str, str]:
    """`--resolve` values as HOST -> "ADDR:PORT". Raises `UsageProblem` naming a bad one."""
    pins: dict[str, str] = {}
    for item in resolve:
        name, sep, target = item.partition("=")
        if not sep:  # curl's HOST:PORT:ADDR (ADDR may be [v6])
            name, _, rest = item.partition(":")
            port, _, address = rest.partition(":")
            address = address.strip("[]")
            target = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
            sep = ":" if port.isdigit() and address else ""
        if not sep or not name or ":" not in target:
            raise UsageProblem(f"--resolve {item!r}: expected HOST:PORT:ADDR or HOST=ADDR:PORT")
        pins[name.lower().rstrip(".")] = target
    return pins


def osv_options(func: F) -> F:
    """`--osv-url` and `--advisory-db`: the advisory database (the rule of
    `sandbench.scanners.advisory_source`: flag, then $SANDBENCH_OSV_URL, then the policy's
    `osv_url`, else the local store)."""
    func = click.option(
        "--osv-url",
        default=None,
        help="An OSV API query URL (else $SANDBENCH_OSV_URL, else the policy's osv_url, "
        "else the local advisory store).",
    )(func)
    return click.option(
        "--advisory-db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="The local advisory store (default: $SANDBENCH_ADVISORY_DB or ~/.local/share).",
    )(func)


def policy_option(func: F) -> F:
    """`--policy FILE` (default: the built-in policy)."""
    return click.option(
        "--policy",
        "policy_file",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="SANDBENCH_POLICY",
        default=None,
        help="Policy TOML over the built-in defaults (default: sandbench.toml, or "
        "pyproject.toml's [tool.sandbench], found from the working directory upwards).",
    )(func)


def signer_options(func: F) -> F:
    """`--allowed-signers FILE` and `--revoked-keys FILE` (over the policy's `[signatures]`)."""
    func = click.option(
        "--allowed-signers",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="SANDBENCH_ALLOWED_SIGNERS",
        default=None,
        help="Who may publish what: an allowed-signers file (git's format), principals "
        "matched against module names such as @scope/*.",
    )(func)
    return click.option(
        "--revoked-keys",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Revoked public keys, one per line: a signature by one is critical.",
    )(func)


def with_signers(policy: Policy, allowed_signers: Path | None, revoked: Path | None) -> Policy:
    """`policy` with the trust-store files the options name put over its `[signatures]`."""
    given = {"allowed_signers": allowed_signers, "revoked": revoked}
    update = {k: v for k, v in given.items() if v is not None}
    if not update:
        return policy
    signatures = policy.signatures.model_copy(update=update)
    return policy.model_copy(update={"signatures": signatures})


def policy_from(path: Path | None) -> Policy:
    """The policy at `path`, else the configuration found upwards, else the built-in one."""
    return resolve_policy(path)


_STATUS_COLOUR = {Status.HEALTHY: "green", Status.DEGRADED: "yellow", Status.CRITICAL: "red"}


def emit(
    report: HealthReport,
    formats: tuple[str, ...],
    output_dir: Path | None,
    output: Path | None = None,
) -> None:
    """Print or write the report, then exit 0 when healthy and 1 otherwise."""
    chosen = [Format(f) for f in formats] or [Format.TEXT]
    if output_dir is None:
        if len(chosen) > 1:
            raise UsageProblem("more than one --format needs --output-dir")
        text = render(report, chosen[0])
        if output is None and chosen[0] is Format.TEXT:
            text = _coloured(text, report.status)
        write_output(text, output)
        if output is not None:
            _status_line(report)
    else:
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
            for fmt in chosen:
                path = output_dir / f"report{fmt.suffix}"
                path.write_text(render(report, fmt), encoding="utf-8")
                if verbosity() >= 0:
                    click.echo(f"wrote {path}")
        except OSError as exc:
            raise UsageProblem(f"cannot write to {output_dir}: {exc.strerror}") from None
        _status_line(report)
    raise SystemExit(0 if report.status is Status.HEALTHY else 1)


def _status_line(report: HealthReport) -> None:
    if verbosity() < 0:
        return
    word = click.style(report.status.value.upper(), fg=_STATUS_COLOUR[report.status], bold=True)
    click.echo(f"{report.module_id} {report.version}: {word}", color=colour())


def _coloured(text: str, status: Status) -> str:
    """The text report with its first status word in the status's colour; `click.echo`
    strips the colour again unless it is on (`colour()`: NO_COLOR, FORCE_COLOR, a terminal)."""
    word = status.value.upper()
    styled = click.style(word, fg=_STATUS_COLOUR[status], bold=True)
    return text.replace(word, styled, 1)
