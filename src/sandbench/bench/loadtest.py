"""HTTP load tests on locust, measured as an open model at a target arrival rate.

locust runs headless in processes of its own (its gevent patching must not reach ours),
with the locustfile from `sandbench.bench.locustfile`, bounded by `--run-time`, by a cap on
requests and by a hard timeout after which the whole process group is killed. Latency is
counted from each request's intended send time (see the locustfile), so that a server
stall shows in the percentiles; locust's own figures, counted from the actual send, are
kept beside them to show the difference.

`workers > 0` runs locust's distributed mode: one master and `workers` local worker
processes (docs/bench.md shows workers on other machines).
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from sandbench._camel import CAMEL
from sandbench.errors import BenchError

from .locustfile import LOCUSTFILE
from .reference import CpuPressure
from .sampler import ResourceSample, Sampler
from .stats import Stats, percentile, summarize
from .thresholds import Threshold, ThresholdResult

__all__ = [
    "SPECTRUM",
    "LoadTestConfig",
    "LoadTestResult",
    "LocustFigures",
    "Second",
    "run_load_test",
]

SPECTRUM = (0.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0)
_CPU_BOUND = 85.0  # % of one core: a gevent process above this is the bottleneck


class LoadTestConfig(BaseModel):
    """What to send, how fast and for how long. Only loopback hosts are allowed."""

    model_config = CAMEL

    url: str = Field(description="base URL, e.g. http://127.0.0.1:8000")
    path: str = "/"
    method: str = "GET"
    body: bytes = b""
    users: int = Field(default=10, ge=1, le=10_000)
    rate: float = Field(default=200.0, gt=0, description="target arrivals per second")
    duration_s: float = Field(default=10.0, gt=0, le=3600)
    max_requests: int | None = Field(default=None, ge=1)
    workers: int = Field(default=0, ge=0, le=64)
    timeout_s: float = Field(default=10.0, gt=0)
    reference_path: str | None = Field(
        default=None,
        description="a path served by the reference module: as many users again send GETs "
        "to it at the same rate, and its latency is the machine's share (`reference_ms`)",
    )

    @property
    def request_cap(self) -> int:
        """The most requests the test sends: `max_requests`, else rate x duration."""
        return self.max_requests or math.ceil(self.rate * self.duration_s)


class LocustFigures(BaseModel):
    """What locust itself reported (latency from the actual send, in ms)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: int
    failures: int
    p50: float
    p95: float
    p99: float
    max: float


class Second(BaseModel):
    """One second of the test, by intended send time: requests, errors, latency p99 (ms)."""

    model_config = CAMEL

    t: int
    requests: int
    errors: int
    p99_ms: float


class LoadTestResult(BaseModel):
    """The figures of one load test; every latency summary carries its count and spread."""

    model_config = CAMEL

    config: LoadTestConfig
    requests: int
    errors: int
    error_rate: float
    achieved_rps: float
    wall_s: float
    latency_ms: Stats = Field(
        description="from intended send times (coordinated omission corrected)"
    )
    service_ms: Stats = Field(description="from actual send times (what a closed loop sees)")
    locust: LocustFigures | None = None
    statuses: dict[str, int] = Field(default_factory=dict)
    timeline: list[Second] = Field(default_factory=list)
    spectrum: list[tuple[float, float, float]] = Field(
        default_factory=list, description="(percentile, latency ms, service ms) at SPECTRUM levels"
    )
    generator: list[ResourceSample] = Field(default_factory=list)
    reference_ms: Stats | None = Field(
        default=None, description="the reference module's latency in the same run"
    )
    cpu_pressure: float | None = Field(
        default=None, description="share of the test's wall time some task waited for a CPU"
    )
    thresholds: list[ThresholdResult] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every threshold held."""
        return all(t.passed for t in self.thresholds)


def run_load_test(config: LoadTestConfig, thresholds: Sequence[Threshold] = ()) -> LoadTestResult:
    """Run one bounded load test against `config.url` and summarize it.

    Raises `BenchError` when the host is not loopback, or the test
    produced no measurement (with the tail of locust's output).
    """
    _check_loopback(config.url)
    with tempfile.TemporaryDirectory(prefix="sandbench-load-") as tmp:
        out = Path(tmp)
        started = time.monotonic()
        with CpuPressure() as pressure:
            samples, output = _run_locust(config, out)
        wall = time.monotonic() - started
        records, reference = _records(out)
        if not records:
            raise BenchError(f"the load test recorded no request; locust said: {output[-400:]}")
        locust = _locust_figures(out / "locust.json")
    result = _summarize(config, records, locust, samples, wall, thresholds)
    return result.model_copy(update={
        "reference_ms": summarize([r[1] * 1000 for r in reference]) if reference else None,
        "cpu_pressure": pressure.share,
    })  # fmt: skip


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise BenchError(
            f"load test target {url}: only loopback hosts (127.0.0.1, ::1) are allowed"
        )


def _locust_command(config: LoadTestConfig, out: Path, role: list[str]) -> list[str]:
    run_time = math.ceil(config.duration_s + min(config.timeout_s, 5.0) + 1)
    users = config.users * (2 if config.reference_path else 1)
    return [
        sys.executable, "-m", "locust", "-f", str(out / "locustfile.py"), "--headless",
        "--host", config.url, "-u", str(users), "-r", str(users),
        "-t", f"{run_time}s", "--only-summary",
        "--loglevel", "WARNING", "--stop-timeout", str(math.ceil(config.timeout_s)), *role,
    ]  # fmt: skip


def _run_locust(config: LoadTestConfig, out: Path) -> tuple[list[ResourceSample], str]:
    (out / "locustfile.py").write_text(LOCUSTFILE)
    env = dict(os.environ)
    env["SANDBENCH_LOAD"] = json.dumps(
        {
            "host": config.url, "path": config.path, "method": config.method,
            "body": config.body.decode("latin-1"), "users": config.users, "rate": config.rate,
            "duration_s": config.duration_s, "max_requests": config.request_cap,
            "timeout_s": config.timeout_s, "out_dir": str(out),
            "quit_when_done": config.workers == 0, "reference_path": config.reference_path,
        }
    )  # fmt: skip
    roles: list[list[str]] = [[]]
    if config.workers:
        port = _free_port()
        master = ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                  "--expect-workers", str(config.workers)]  # fmt: skip
        worker = ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
        roles = [master] + [worker] * config.workers
    log = out / "locust.log"
    processes: list[subprocess.Popen[bytes]] = []
    with open(log, "wb") as sink:
        try:
            for role in roles:
                command = _locust_command(config, out, role)
                # Our own interpreter and locust, with arguments we built: no shell, no user text.
                processes.append(
                    subprocess.Popen(  # noqa: S603
                        command,
                        env=env,
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                        cwd=out,
                    )
                )
            with Sampler([p.pid for p in processes]) as sampler:
                _wait(processes, config.duration_s + config.timeout_s + 60)
        finally:
            for process in processes:
                _kill(process)
    return sampler.samples, log.read_text(errors="replace")


def _wait(processes: list[subprocess.Popen[bytes]], budget_s: float) -> None:
    deadline = time.monotonic() + budget_s
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise BenchError(f"locust did not finish within {budget_s:.0f} s; stopped it") from None


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_Record = tuple[float, float, float, int]


def _records(out: Path) -> tuple[list[_Record], list[_Record]]:
    """The module's records and the reference module's, each sorted by intended time."""
    found: tuple[list[_Record], list[_Record]] = ([], [])
    for path in sorted(out.glob("records-*.jsonl")):
        for line in path.read_text().splitlines():
            intended, latency, service, status, role = json.loads(line)
            record = (float(intended), float(latency), float(service), int(status))
            found[1 if role else 0].append(record)
    return sorted(found[0]), sorted(found[1])


def _locust_figures(path: Path) -> LocustFigures | None:
    """locust's own final figures, as the locustfile wrote them at quit (None without)."""
    try:
        figures = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return LocustFigures(
        requests=int(figures["requests"]), failures=int(figures["failures"]),
        p50=_num(figures["p50"]), p95=_num(figures["p95"]), p99=_num(figures["p99"]),
        max=_num(figures["max"]),
    )  # fmt: skip


def _num(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _summarize(
    config: LoadTestConfig,
    records: list[tuple[float, float, float, int]],
    locust: LocustFigures | None,
    samples: list[ResourceSample],
    wall: float,
    thresholds: Sequence[Threshold],
) -> LoadTestResult:
    latency = summarize([r[1] * 1000 for r in records])
    service = summarize([r[2] * 1000 for r in records])
    errors = sum(1 for r in records if not 200 <= r[3] < 400)
    span = max(r[0] + r[1] for r in records) - records[0][0]
    statuses: dict[str, int] = {}
    for record in records:
        statuses[str(record[3])] = statuses.get(str(record[3]), 0) + 1
    result = LoadTestResult(
        config=config, requests=len(records), errors=errors, error_rate=errors / len(records),
        achieved_rps=len(records) / span if span > 0 else 0.0, wall_s=wall,
        latency_ms=latency, service_ms=service, locust=locust, statuses=statuses,
        timeline=_timeline(records), generator=samples, spectrum=_spectrum(records),
    )  # fmt: skip
    checked = [_check(t, result) for t in thresholds]
    return result.model_copy(update={"thresholds": checked, "warnings": _warnings(result, samples)})


def _spectrum(records: list[tuple[float, float, float, int]]) -> list[tuple[float, float, float]]:
    latency = sorted(r[1] * 1000 for r in records)
    service = sorted(r[2] * 1000 for r in records)
    return [(q, percentile(latency, q), percentile(service, q)) for q in SPECTRUM]


def _timeline(records: list[tuple[float, float, float, int]]) -> list[Second]:
    start = records[0][0]
    bins: dict[int, list[tuple[float, int]]] = {}
    for intended, latency, _, status in records:
        bins.setdefault(int(intended - start), []).append((latency * 1000, status))
    return [
        Second(
            t=t,
            requests=len(rows),
            errors=sum(1 for _, s in rows if not 200 <= s < 400),
            p99_ms=percentile(sorted(ms for ms, _ in rows), 99),
        )
        for t, rows in sorted(bins.items())
    ]


def _check(threshold: Threshold, result: LoadTestResult) -> ThresholdResult:
    observed = {
        "error_rate": result.error_rate,
        "rps": result.achieved_rps,
    }.get(threshold.metric)
    if observed is None:
        observed = float(getattr(result.latency_ms, threshold.metric.replace("p50", "median")))
    return ThresholdResult(
        threshold=threshold.text, observed=observed, passed=threshold.holds(observed)
    )


def _warnings(result: LoadTestResult, samples: list[ResourceSample]) -> list[str]:
    notes: list[str] = []
    cfg = result.config
    if result.achieved_rps < 0.9 * cfg.rate:
        notes.append(
            f"achieved {result.achieved_rps:.0f} req/s of the {cfg.rate:.0f} targeted: the "
            "server (or the generator) could not keep up; latencies include the backlog"
        )
    busy = [s.busiest_percent for s in samples[1:]]
    if busy and summarize(busy).median > _CPU_BOUND:
        notes.append(
            f"the load generator was CPU-bound (a locust process at a median "
            f"{summarize(busy).median:.0f}% of a core): figures understate the server; "
            "use --workers N or fewer --rate"
        )
    machine = [s.machine_cpu_percent for s in samples[1:]]
    if machine and summarize(machine).median > 90:
        notes.append(
            f"the machine was saturated (median {summarize(machine).median:.0f}% of all "
            f"{os.cpu_count()} cores): generator and server compete; figures are noisy"
        )
    if result.latency_ms.n < 100:
        notes.append(
            f"only {result.latency_ms.n} requests: the p99 is their maximum, not a stable percentile"
        )
    return notes
