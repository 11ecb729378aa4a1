"""One rule for the advisory database in every command: flag, then $SANDBENCH_OSV_URL, then
the policy's `osv_url`, else the local store. `gate` used to ignore the environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbench.cli import cli
from sandbench.scanners import (
    AdvisoryStore,
    PipAuditScanner,
    ScanPolicy,
    advisory_source,
    default_scanners,
    osv_server,
)

from .conftest import PYAPP

FLAG, ENV, POLICY = (f"http://127.0.0.1:{p}/v1/query" for p in (9001, 9002, 9003))


@pytest.mark.parametrize(
    ("flag", "env", "policy", "expected", "origin"),
    [
        (FLAG, ENV, POLICY, FLAG, "--osv-url"),
        (None, ENV, POLICY, ENV, "SANDBENCH_OSV_URL"),
        (None, "", POLICY, POLICY, "policy osv_url"),
        (None, "", None, None, "local store"),
    ],
)
def test_flag_then_env_then_policy_then_the_local_store(
    monkeypatch, tmp_path, flag, env, policy, expected, origin
):
    monkeypatch.setenv("SANDBENCH_OSV_URL", env)
    monkeypatch.setenv("SANDBENCH_ADVISORY_DB", str(tmp_path / "env.sqlite"))
    source = advisory_source(flag, None, policy)
    assert (source.osv_url, source.origin) == (expected, origin)
    assert source.store == tmp_path / "env.sqlite"
    assert advisory_source(None, tmp_path / "flag.sqlite").store == tmp_path / "flag.sqlite"


def test_default_scanners_follow_the_rule(monkeypatch):
    monkeypatch.setenv("SANDBENCH_OSV_URL", ENV)
    [audit] = [s for s in default_scanners(ScanPolicy()) if isinstance(s, PipAuditScanner)]
    assert audit.osv_url == ENV
    monkeypatch.setenv("SANDBENCH_OSV_URL", "")
    policy = ScanPolicy(osv_url=POLICY)
    [audit] = [s for s in default_scanners(policy) if isinstance(s, PipAuditScanner)]
    assert audit.osv_url == POLICY


def test_a_policy_osv_url_must_be_http():
    with pytest.raises(ValueError, match="osv_url"):
        ScanPolicy(osv_url="file:///etc/passwd")


def _gate_database(args: list[str], env: dict[str, str], cache_dir: Path) -> str:
    result = CliRunner().invoke(
        cli,
        ["gate", str(PYAPP), "--format", "json", "--cache-dir", str(cache_dir), *args],
        env={"SANDBENCH_OSV_URL": "", **env},
    )
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    [audit] = [s for s in report["scans"] if s["scanner"] == "pip-audit"]
    assert audit["skippedReason"] is None, audit["skippedReason"]
    return audit["database"]


def test_gate_honours_the_environment_and_the_policy(advisory_store, cache_dir, tmp_path):
    with osv_server(AdvisoryStore(advisory_store)) as server:
        database = _gate_database([], {"SANDBENCH_OSV_URL": server.url}, cache_dir)
        assert database == f"OSV API at {server.url} (age unknown: remote)"
        policy = tmp_path / "policy.toml"
        policy.write_text(f'osv_url = "{server.url}"\n')
        database = _gate_database(["--policy", str(policy)], {}, cache_dir)
        assert database == f"OSV API at {server.url} (age unknown: remote)"
        assert len(server.queries) == 4  # two pins of pyapp, audited by each gate
