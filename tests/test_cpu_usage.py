"""`cpuUsage` on a real run: the module's CPU-seconds per wall second, on the scale of
`limits.cpu`, never the calls' burst (about a full core for any call that computes,
whatever the limit: a 250m module used to show 950m)."""

from __future__ import annotations

from sandbench.pipeline import check
from sandbench.reports import render_text

from .sandbox import wat

# `_start` counts to N (a few ms of CPU here), then answers 200.
N = 4_000_000
BUSY = wat.command(
    f"""(local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {N}))))
    (drop (call $write (i32.const 1) (i32.const 64) (i32.const 29)))""",
    data=b"Status: 200\nContent-Type: x\n\n",
)


def test_a_busy_module_s_cpu_usage_is_per_wall_second_within_its_limit(make_module, cache_dir):
    module = make_module(BUSY, limits={"memory": "16MiB", "cpu": "250m", "timeout": "2s"})
    report = check(module, cache_dir=cache_dir, calls=5, warm_runs=1)
    assert report.reasons == ["signature"], report.rules  # healthy but unsigned
    health = report.health
    assert health is not None
    assert health.ok == 5
    cpu_ms, latency_ms = sum(health.cpu_samples_ms), sum(health.samples_ms)
    usage = report.metrics.cpu_usage
    # CPU per wall second: the calls' wall time (at most their latency) counted as at
    # least the one second `limits.cpu` holds over.
    assert cpu_ms / max(latency_ms, 1000) * 1000 - 0.1 <= usage <= cpu_ms + 0.1
    # Five calls of a few ms of CPU each: a few tens of millicores, within the limit,
    # although each call ran at about a full core (the old figure, the calls' burst).
    assert 0 < usage < 250
    print(f"cpuUsage {usage}m; the calls' burst {cpu_ms / latency_ms * 1000:.0f}m")
    assert f"cpu {usage:.0f}m," in render_text(report)
