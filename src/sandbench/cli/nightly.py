"""`sandbench nightly CONFIG.toml` and `nightly publish|merge|regressions`."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import click

from sandbench.nightly import (
    CellResult,
    Regression,
    Thresholds,
    detect,
    load_config,
    open_store,
    parse_shard,
    run,
)
from sandbench.nightly.cell import Task
from sandbench.nightly.dashboard import publish
from sandbench.nightly.runner import CellLine
from sandbench.nightly.store import merge

__all__ = ["nightly_group"]

_DB_HELP = "History: a SQLite file or a postgresql:// URL (default: the config's store)."


class _DefaultRun(click.Group):
    """`sandbench nightly CONFIG.toml` is `sandbench nightly run CONFIG.toml`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group("nightly", cls=_DefaultRun)
def nightly_group() -> None:
    """Nightly compatibility runs: `nightly CONFIG.toml`, then publish, merge, regressions."""


def _progress(number: int, total: int, task: Task, result: CellResult | None) -> None:
    what = (
        "already done" if result is None else f"{result.status.value} ({result.elapsed_ms:.0f} ms)"
    )
    click.echo(f"[{number}/{total}] {task.module} [{task.cell.key}]: {what}", err=True)


@nightly_group.command("run")
@click.argument("config_file", metavar="CONFIG.toml", type=click.Path(path_type=Path))
@click.option("--db", envvar="SANDBENCH_NIGHTLY_DB", default=None, help=_DB_HELP)
@click.option("--run-id", envvar="SANDBENCH_RUN_ID", default=None, help="Default: today (UTC).")
@click.option(
    "--shard", "shard_text", envvar="SANDBENCH_SHARD", default="0/1", help="I/N, 0-based."
)
@click.option(
    "--summary",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the JSON summary here (default: nightly-summary-RUN-I-of-N.json).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
def run_command(
    config_file: Path,
    db: str | None,
    run_id: str | None,
    shard_text: str,
    summary: Path | None,
    quiet: bool,
) -> None:
    """Run every module in every matrix cell; resume a run with the same --run-id.

    Exits 0 when the run finished without regressions, 1 when something regressed.
    """
    config = load_config(config_file)
    shard = parse_shard(shard_text)
    run_id = run_id or datetime.now(UTC).strftime("%Y-%m-%d")
    with open_store(db or config.store) as store:
        result = run(config, store, run_id, shard=shard, progress=None if quiet else _progress)
        regressions = [r for r in detect(store, run_id) if _in(r, result.results)]
    result = result.model_copy(
        update={"regressions": [r.model_dump(mode="json") for r in regressions]}
    )
    path = summary or Path(f"nightly-summary-{run_id}-{shard.index}-of-{shard.count}.json")
    path.write_text(result.model_dump_json(indent=2), encoding="utf-8")
    counts = ", ".join(f"{n} {s}" for s, n in result.by_status.items()) or "nothing new"
    click.echo(
        f"nightly {run_id} shard {shard}: {result.ran} ran ({counts}), "
        f"{result.resumed} already done, {len(regressions)} regression(s); wrote {path}"
    )
    raise SystemExit(1 if regressions else 0)


def _in(regression: Regression, lines: Sequence[CellLine]) -> bool:
    """Only regressions of cells this shard ran (other shards report their own)."""
    return any(line.module == regression.module and line.cell == regression.cell for line in lines)


_CONFIG = click.option(
    "--config",
    "config_file",
    metavar="CONFIG.toml",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="SANDBENCH_NIGHTLY_CONFIG",
    default=None,
    help="The nightly config whose store is read when --db is absent.",
)


def _store(db: str | None, config_file: Path | None) -> str:
    """--db, else the config's store; a usage error when neither is given."""
    if db is not None:
        return db
    if config_file is None:
        raise click.UsageError("give --db (or SANDBENCH_NIGHTLY_DB) or --config CONFIG.toml")
    return load_config(config_file).store


@nightly_group.command("regressions")
@click.option("--db", envvar="SANDBENCH_NIGHTLY_DB", default=None, help=_DB_HELP)
@_CONFIG
@click.option("--run-id", default=None, help="Default: the latest run.")
@click.option("--alpha", type=float, default=Thresholds().alpha, show_default=True)
@click.option("--min-effect", type=float, default=Thresholds().min_effect, show_default=True)
def regressions_command(
    db: str | None, config_file: Path | None, run_id: str | None, alpha: float, min_effect: float
) -> None:
    """Print what got worse in a run (JSON lines); exit 1 when anything did."""
    with open_store(_store(db, config_file)) as store:
        runs = store.runs()
        run_id = run_id or (runs[-1] if runs else "")
        found = detect(store, run_id, Thresholds(alpha=alpha, min_effect=min_effect))
    for r in found:
        click.echo(r.model_dump_json())
    click.echo(f"{len(found)} regression(s) in {run_id or '(no runs)'}", err=True)
    raise SystemExit(1 if found else 0)


@nightly_group.command("publish")
@click.option("--db", envvar="SANDBENCH_NIGHTLY_DB", default=None, help=_DB_HELP)
@_CONFIG
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("site"),
    show_default=True,
)
@click.option(
    "--nights",
    type=click.IntRange(1),
    default=30,
    show_default=True,
    help="How many of the latest nights the trends show.",
)
def publish_command(db: str | None, config_file: Path | None, out: Path, nights: int) -> None:
    """Write the static dashboard: grid, regressions, per-module trends."""
    with open_store(_store(db, config_file)) as store:
        runs = store.runs()[-nights:]
        results = [r for run_id in runs for r in store.results(run_id)]
        regressions = detect(store, runs[-1]) if runs else []
    written = publish(out, runs, results, regressions)
    click.echo(
        f"wrote {len(written)} pages to {out} ({len(runs)} nights, {len(regressions)} regressions)"
    )


@nightly_group.command("merge")
@click.argument("target")
@click.argument("sources", nargs=-1, required=True)
def merge_command(target: str, sources: tuple[str, ...]) -> None:
    """Combine shard history files SOURCES into TARGET (a file or a postgresql:// URL)."""
    for source in sources:
        if os.path.abspath(source) == os.path.abspath(target):
            raise click.UsageError(f"{source} is the target itself")
    with open_store(target) as store:
        added, already = merge(store, sources)
    click.echo(json.dumps({"added": added, "alreadyPresent": already}))
