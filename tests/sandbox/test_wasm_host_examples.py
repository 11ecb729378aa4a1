"""The host API example modules, well-behaved and hostile, on the real WASM backend."""

from __future__ import annotations

import json

import pytest

from sandbench import check
from sandbench.hostapi import HostSettings, HttpSettings
from sandbench.manifests import load
from sandbench.reports import Status
from sandbench.runtime import limits_for
from sandbench.sandbox import Grants, Request, SandboxLimits
from tests.conftest import EXAMPLES
from tests.hostapi.server import serve

HOSTILE = EXAMPLES / "hostile"


def loaded(backend, path, grants):
    package = load(path)
    limits = limits_for(package.manifest, SandboxLimits(), SandboxLimits(storage_bytes=10**9))
    result = backend.load(package, limits.limits, grants)
    assert result.violation is None, result.violation
    return result.instance


@pytest.mark.parametrize("name", ["host-log", "host-storage", "host-db"])
def test_well_behaved_examples_are_healthy_and_use_their_permissions(backend, name):
    report = check(EXAMPLES / name, backend=backend)
    assert report.status is Status.HEALTHY, [r for r in report.rules if r.status != "healthy"]
    assert report.host_api is not None
    assert report.host_api.denied == []
    assert [f for f in report.findings if f.rule_id == "unused-permission"] == []
    assert report.metrics.dependencies["sandbench:host/v1"] == "ok"


def test_log_lines_reach_the_report(backend):
    report = check(EXAMPLES / "host-log", backend=backend)
    line = report.host_api.logs[0]
    assert (line.level, line.message, line.fields) == (
        "info",
        "health check served",
        {"module": "host-log", "calls": 1},
    )
    assert len(report.host_api.logs) == report.health.calls


def test_host_db_counts_its_visits(backend, tmp_path):
    grants = Grants(host=HostSettings(database_dir=tmp_path))
    with loaded(backend, EXAMPLES / "host-db", grants) as instance:
        bodies = [json.loads(instance.invoke(Request()).response.body) for _ in range(3)]
    assert [b["rows"] for b in bodies] == [[[1]], [[2]], [[3]]]


def test_host_http_fetches_from_its_granted_host_on_loopback(backend):
    with serve() as address:
        settings = HostSettings(http=HttpSettings(resolve={"crm.example.com": address}))
        with loaded(backend, EXAMPLES / "host-http", Grants(host=settings)) as instance:
            outcome = instance.invoke(Request())
    assert outcome.ok, outcome.violation
    assert outcome.response.status == 200
    assert outcome.response.body.endswith(b"GET /customers/7 host=crm.example.com")
    assert [(c.target, c.code) for c in outcome.host.calls] == [("crm.example.com", "ok")]


def test_hostile_http_is_refused_every_way_and_recorded(backend):
    with serve() as address:
        settings = HostSettings(http=HttpSettings(resolve={"crm.example.com": address}))
        with loaded(backend, HOSTILE / "host-http", Grants(host=settings)) as instance:
            outcome = instance.invoke(Request())
    assert outcome.ok, outcome.violation  # exit 1 would mean an attempt was not refused
    assert outcome.response.body == b"every attempt was refused\n"
    assert [(c.target, c.code) for c in outcome.host.calls] == [
        ("evil.example.net", "denied"),
        ("127.0.0.1", "denied"),
        ("crm.example.com.evil.net", "denied"),
        ("169.254.169.254", "denied"),
        ("crm.example.com", "ok"),
        ("crm.example.com", "ok"),
        ("crm.example.com", "rate"),
    ]


def test_hostile_storage_is_refused_every_way_and_recorded(backend, tmp_path):
    docs, scratch = tmp_path / "docs", tmp_path / "scratch"
    docs.mkdir()
    scratch.mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "secret.txt").write_text("secret")
    grants = Grants(storage_read={"docs": docs}, storage_write={"scratch": scratch})
    with loaded(backend, HOSTILE / "host-storage", grants) as instance:
        outcome = instance.invoke(Request())
    assert outcome.ok, outcome.violation
    assert [(c.action, c.target, c.code) for c in outcome.host.calls] == [
        ("write", "docs/planted.txt", "denied"),
        ("read", "other/secret.txt", "denied"),
        ("read", "docs/../scratch/x", "denied"),
        ("read", "docs//etc/passwd", "denied"),
        ("read", "scratch/link", "denied"),  # planted with WASI, not followed
        ("write", "scratch/big.bin", "quota"),
    ]
    assert (scratch / "link").is_symlink()
    assert not (scratch / "big.bin").exists()
    assert list(docs.iterdir()) == []


def test_hostile_db_is_refused_every_way_and_recorded(backend, tmp_path):
    grants = Grants(host=HostSettings(database_dir=tmp_path))
    with loaded(backend, HOSTILE / "host-db", grants) as instance:
        outcome = instance.invoke(Request())
    assert outcome.ok, outcome.violation
    calls = [(c.action, c.target, c.code) for c in outcome.host.calls]
    assert calls == [("query", "rh", "denied")] + [("query", "vendas", "denied")] * 4 + [
        ("execute", "vendas", "denied"),
        ("query", "vendas", "denied"),
        ("query", "vendas", "failed"),  # SET search_path is not SQLite syntax
    ]
    assert not (tmp_path / "rh.sqlite3").exists()


@pytest.mark.parametrize(("name", "count"), [("host-storage", 6), ("host-db", 7)])
def test_hostile_examples_are_critical_with_their_denials_listed(backend, name, count):
    report = check(HOSTILE / name, backend=backend, calls=2)
    assert report.status is Status.CRITICAL
    assert "host-denials" in report.reasons
    assert sum(1 for d in report.host_api.denied) == count
    assert all(d.count == 2 for d in report.host_api.denied)
    assert report.violations == []
