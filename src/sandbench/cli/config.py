"""Where the CLI's policy comes from, and the conventions every command shares.

The policy, first found wins:

1. `--policy FILE`, or `SANDBENCH_POLICY=FILE` (one variable for the report's and the
   scanners' keys: they are one schema; the old `SANDBENCH_SCAN_POLICY` still works for
   `scan`, with a deprecation line on stderr);
2. the configuration found from the working directory upwards, as ruff and pytest look for
   theirs: in each folder `sandbench.toml` (the whole file is the policy), else a
   `pyproject.toml` with a `[tool.sandbench]` table (a pyproject.toml without one is passed
   over); relative paths in it are taken from that file's folder;
3. the built-in policy.

Colour: on when stdout is a terminal, never with `NO_COLOR` set (no-color.org), always with
`FORCE_COLOR` set (and `NO_COLOR` unset).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from sandbench.errors import PolicyError, read_toml
from sandbench.policy import load_policy, parse_policy
from sandbench.reports import Policy

__all__ = [
    "CONFIG_NAME",
    "DEPRECATED_SCAN_POLICY",
    "VERBOSITY",
    "colour",
    "find_config",
    "resolve_policy",
    "verbosity",
]

CONFIG_NAME = "sandbench.toml"
PYPROJECT = "pyproject.toml"
DEPRECATED_SCAN_POLICY = "SANDBENCH_SCAN_POLICY"
VERBOSITY = "sandbench.verbosity"


def verbosity() -> int:
    """`-v` count minus `-q` count of the running command (0 outside one)."""
    ctx = click.get_current_context(silent=True)
    return int(ctx.meta.get(VERBOSITY, 0)) if ctx is not None else 0


def note(message: str) -> None:
    """A line on stderr for `-v`."""
    if verbosity() > 0:
        click.echo(f"sandbench: {message}", err=True)


def _read(path: Path) -> dict[str, Any]:
    return read_toml(path, PolicyError)


def find_config(start: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The first `sandbench.toml`, or `pyproject.toml` with `[tool.sandbench]`, from `start`
    (default: the working directory) upwards: its path and its policy table, or None.

    Raises `PolicyError` for a file that cannot be read or is not TOML.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        own = folder / CONFIG_NAME
        if own.is_file():
            return own, _read(own)
        pyproject = folder / PYPROJECT
        if pyproject.is_file():
            table = _read(pyproject).get("tool", {}).get("sandbench")
            if isinstance(table, dict):
                return pyproject, table
    return None


def resolve_policy(path: Path | None, *, scan: bool = False) -> Policy:
    """The policy `--policy`/`SANDBENCH_POLICY` names, else the one found upwards, else the
    built-in one. With `scan`, `SANDBENCH_SCAN_POLICY` is read too (deprecated)."""
    if path is None and scan and os.environ.get(DEPRECATED_SCAN_POLICY):
        click.echo(
            f"sandbench: warning: {DEPRECATED_SCAN_POLICY} is deprecated: set SANDBENCH_POLICY "
            "(one policy file holds the scanners' keys too)",
            err=True,
        )
        path = Path(os.environ[DEPRECATED_SCAN_POLICY])
    if path is not None:
        note(f"policy from {path}")
        return load_policy(path)
    found = find_config()
    if found is None:
        note("built-in policy (no sandbench.toml or [tool.sandbench] found upwards)")
        return Policy()
    source, table = found
    note(f"policy from {source}")
    return parse_policy(table, source)


def colour() -> bool | None:
    """click's `color`: False under NO_COLOR, True under FORCE_COLOR, else None (a TTY)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return None
