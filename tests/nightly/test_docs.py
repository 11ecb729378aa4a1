"""The shipped scale-out examples: the Kubernetes manifest against the Kubernetes schema,
the CI matrix and the sample config against the code that reads them."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml

from sandbench.nightly import cells, load_config, parse_shard
from tests.conftest import ROOT

K8S = ROOT / "docs" / "k8s" / "nightly-indexed-job.yaml"
CI = ROOT / "docs" / "ci-matrix" / "nightly.yml"


def shard_count(command: str) -> int:
    match = re.search(r'--shard "\$\{\{? ?[\w.]+ ?\}?\}?/(\d+)"', command)
    assert match, command
    return int(match.group(1))


@pytest.mark.parametrize("version", ["1.29", "1.31"])
def test_the_kubernetes_manifest_is_valid_for_the_kubernetes_schema(version):
    manifest = yaml.safe_load(K8S.read_text())
    kubernetes_validate.validate(manifest, version, strict=True)


def test_a_misspelt_field_would_be_caught():
    manifest = yaml.safe_load(K8S.read_text())
    manifest["spec"]["jobTemplate"]["spec"]["completionMod"] = "Indexed"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, "1.31", strict=True)


def test_the_indexed_job_runs_one_shard_per_completion_index():
    job = yaml.safe_load(K8S.read_text())["spec"]["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed"
    args = job["template"]["spec"]["containers"][0]["args"][0]
    assert '"${JOB_COMPLETION_INDEX}/4"' in args
    assert job["completions"] == job["parallelism"] == shard_count(args) == 4


def test_the_ci_matrix_covers_every_shard_once():
    workflow = yaml.safe_load(CI.read_text())
    shards = workflow["jobs"]["shard"]["strategy"]["matrix"]["shard"]
    step = next(
        s for s in workflow["jobs"]["shard"]["steps"] if "sandbench nightly" in s.get("run", "")
    )
    assert sorted(shards) == list(range(shard_count(step["run"])))
    assert {str(parse_shard(f"{i}/{len(shards)}")) for i in shards} == {f"{i}/4" for i in range(4)}


def test_the_example_config_loads_and_names_real_modules():
    config = load_config(ROOT / "examples" / "nightly" / "nightly.toml")
    assert len(config.modules) == 6
    assert all((m.path / "module.json").is_file() for m in config.modules)
    assert [c.key for c in cells(config)] == [
        "backend=wasm,profile=default",
        "backend=wasm,profile=small",
    ]
