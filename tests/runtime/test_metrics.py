"""The metric tallies a worker shares with the others (runtime/metrics.py): written when
they changed, summed by a scrape of any worker."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sandbench.runtime.metrics import GatewayMetrics
from sandbench.sandbox import Outcome, Response, Usage


def _counts(metrics: GatewayMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_a_worker_writes_its_tallies_only_when_they_changed(tmp_path):
    ours, theirs = GatewayMetrics(), GatewayMetrics()
    ours.share(tmp_path, "worker-0")
    theirs.share(tmp_path, "worker-1")
    theirs.declare(["m"])
    assert theirs.publish()  # the first time: its modules, counted 0
    assert not theirs.publish()  # nothing counted since
    outcome = Outcome(response=Response(status=200), usage=Usage(cpu_ms=2.0, memory_bytes=65536))
    theirs.answered("m", 200, 0.0004, outcome)
    theirs.answered("m", 404, 0.0002, None)
    assert theirs.publish()
    assert not theirs.publish()
    theirs.spent("m", 1.0)  # CPU of a call cut short, not an answer: still a change
    assert theirs.publish()
    ours.answered("m", 200, 0.0003, outcome)
    counts = _counts(ours)
    assert counts[("http_requests_total", (("module", "m"), ("status", "200")))] == 2
    assert counts[("http_requests_total", (("module", "m"), ("status", "404")))] == 1
    assert counts[("http_request_duration_seconds_count", (("module", "m"),))] == 3
    assert counts[("module_cpu_seconds_total", (("module", "m"),))] == pytest.approx(0.005)
    assert counts[("module_memory_bytes", (("module", "m"),))] == 65536
