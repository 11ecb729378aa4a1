"""`sandbench bench MODULE`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sandbench.bench.loadtest import LoadTestConfig
from sandbench.bench.render import render_html, render_text
from sandbench.bench.thresholds import parse_threshold
from sandbench.errors import BenchError
from sandbench.pipeline import bench
from sandbench.reports import Status

from .config import resolve_policy
from .output import host_from, output_option, resolve_option, write_output
from .progress import cold_option, progress_for, quiet_option

__all__ = ["bench_command"]


def _thresholds(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    for value in values:
        try:
            parse_threshold(value)
        except BenchError as exc:
            raise click.BadParameter(str(exc)) from None
    return values


@click.command("bench")
@click.argument("module", type=click.Path(path_type=Path))
@click.option(
    "--users",
    type=click.IntRange(1, 10_000),
    default=10,
    show_default=True,
    help="Concurrent locust users (each paced; together they offer --rate).",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1),
    default=200.0,
    show_default=True,
    help="Target arrivals per second (open model).",
)
@click.option(
    "--duration",
    type=click.FloatRange(0.5, 3600),
    default=10.0,
    show_default=True,
    help="Seconds of load.",
)
@click.option(
    "--requests",
    "max_requests",
    type=click.IntRange(min=1),
    default=None,
    help="Cap on requests sent (default: rate x duration).",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    help="locust worker processes (distributed mode); 0 runs one process.",
)
@click.option(
    "--reps",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Repetitions of cold and warm loads.",
)
@click.option(
    "--invokes",
    type=click.IntRange(1, 100_000),
    default=200,
    show_default=True,
    help="In-process invocations for the latency distribution.",
)
@click.option(
    "--instances",
    type=click.IntRange(1, 256),
    default=4,
    show_default=True,
    help="Live instances the gateway keeps for the module.",
)
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    callback=_thresholds,
    help="k6-style pass/fail rule, repeatable (default: the policy's "
    "'p95 < 100ms' and 'error_rate < 0.5%').",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    envvar="SANDBENCH_FORMAT",
    show_default=True,
)
@output_option
@click.option(
    "--html",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write an HTML page with plots here.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="SANDBENCH_CACHE_DIR",
    default=None,
)
@resolve_option
@cold_option
@quiet_option
def bench_command(module: Path, users: int, rate: float, duration: float,
                  max_requests: int | None, workers: int, reps: int, invokes: int,
                  instances: int, thresholds: tuple[str, ...], fmt: str, output: Path | None,
                  html: Path | None, cache_dir: Path | None, resolve: tuple[str, ...],
                  cold: bool, quiet: bool) -> None:  # fmt: skip
    """Check MODULE, then measure it: load times, in-process latency and an HTTP load test.

    Exits 0 when healthy and every threshold holds, 1 otherwise, 2 for bad input and 3
    when the sandbox or locust cannot run here.
    """
    config = LoadTestConfig(url="http://127.0.0.1", users=users, rate=rate, duration_s=duration,
                            max_requests=max_requests, workers=workers)  # fmt: skip
    with progress_for(quiet) as progress:
        run = bench(module, load_test=config, thresholds=thresholds or None,
                    cache_dir=cache_dir, reps=reps, invokes=invokes, instances=instances,
                    policy=resolve_policy(None), host=host_from(None, resolve), cold=cold,
                    progress=progress)  # fmt: skip
    status = run.health.status.value
    if html is not None:
        html.write_text(render_html(run.bench, status))
    if fmt == "json":
        health = json.loads(run.health.model_dump_json(by_alias=True))
        document = {"health": health, "bench": run.bench.model_dump(mode="json")}
        write_output(json.dumps(document) + "\n", output)
    else:
        write_output(render_text(run.bench, status), output)
    raise SystemExit(0 if run.health.status is Status.HEALTHY and run.bench.passed else 1)
