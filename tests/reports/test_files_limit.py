"""`limits.files` end to end outside the sandbox: manifest, policy, clamping, report."""

from __future__ import annotations

import json

import pytest

from sandbench.errors import PolicyError
from sandbench.manifests import ManifestLimits, json_schema, load
from sandbench.policy import parse_policy
from sandbench.reports import Format, Policy, assess, render
from sandbench.runtime import AppliedLimits, limits_for

from .conftest import make_evidence


@pytest.mark.parametrize(("raw", "parsed"), [(64, 64), ("256", 256), (None, None)])
def test_the_manifest_takes_a_count(raw, parsed):
    assert ManifestLimits.model_validate({"files": raw}).files == parsed


@pytest.mark.parametrize("raw", [0, -1, "64 files", 1.5, True, 2_000_000])
def test_the_manifest_refuses_what_is_not_a_count(raw):
    with pytest.raises(ValueError, match="expected a whole number from 1 to 1048576"):
        ManifestLimits.model_validate({"files": raw})


def test_the_schema_has_the_field():
    limits = json_schema()["$defs"]["ManifestLimits"]["properties"]
    assert limits["files"]["anyOf"][0]["description"] == "a count"


def test_the_policy_has_a_default_and_a_ceiling(tmp_path):
    assert (Policy().defaults.files, Policy().ceilings.files) == (1024, 65536)
    policy = parse_policy({"defaults": {"files": "8"}}, tmp_path / "p.toml")
    assert policy.defaults.sandbox().files == 8
    with pytest.raises(PolicyError) as info:
        parse_policy({"ceilings": {"files": "many"}}, tmp_path / "p.toml")
    assert info.value.problems == ["ceilings.files: expected a whole number from 1 to 1048576"]


def test_a_declared_files_limit_above_the_ceiling_is_clamped(make_module):
    package = load(make_module("(module)", limits={"files": 100_000}))
    policy = Policy()
    applied = limits_for(package.manifest, policy.defaults.sandbox(), policy.ceilings.sandbox())
    assert applied.limits.files == 65536
    assert applied.clamped == ("limits.files: declared 100000 is above the ceiling 65536",)


def test_the_report_shows_the_files_limit():
    limits = Policy().defaults.sandbox().model_copy(update={"files": 16})
    report = assess(make_evidence(applied=AppliedLimits(limits=limits)))
    assert json.loads(render(report, Format.JSON))["limits"]["files"] == 16
    text = render(report, Format.TEXT)
    assert "output 1.0 MiB, files 16, network none" in text
