"""Policy TOML files: overrides over the built-in policy, and one line per problem."""

from __future__ import annotations

import pytest

from sandbench.errors import PolicyError
from sandbench.policy import load_policy
from sandbench.reports import Policy, Status, assess

from .conftest import make_evidence


def test_a_file_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('max_load_ms = 5\nunsigned = "critical"\n[ceilings]\nmemory = "64MiB"\n')
    policy = load_policy(path)
    assert policy.max_load_ms == 5
    assert policy.unsigned is Status.CRITICAL
    assert policy.ceilings.memory == 64 * 1024 * 1024
    assert policy.ceilings.cpu == Policy().ceilings.cpu
    assert policy.defaults == Policy().defaults
    assert policy.source == str(path)


def test_the_file_changes_the_verdict(tmp_path):
    path = tmp_path / "strict.toml"
    path.write_text("max_load_ms = 0.1\n")
    report = assess(make_evidence(), load_policy(path))
    assert report.status is Status.DEGRADED
    assert report.reasons == ["load-time"]
    assert report.tool.policy == str(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("max_load_ms = -1", "max_load_ms: Input should be greater than 0"),
        ('unsigned = "fine"', "unsigned: Input should be 'healthy', 'degraded' or 'critical'"),
        (
            '[defaults]\nmemory = "lots"',
            "defaults.memory: expected a size such as 256MB, 512MiB or 1GB",
        ),
        ('compile_memory = "lots"', "compile_memory: expected a size such as 256MB"),
        ('compile_memory = "0B"', "compile_memory: expected a size such as 256MB"),
        ("compile_timeout_s = -1", "compile_timeout_s: Input should be greater than 0"),
        ("compile_timeout_s = 4000", "compile_timeout_s: Input should be less than or equal"),
        ("surprise = 1", "surprise: Extra inputs are not permitted"),
        ("version = 2", "version: Input should be 1"),
        ("max_load_ms = ", "not valid TOML: "),
    ],
)
def test_problems_are_one_line_each(tmp_path, text, problem):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(problem)


def test_a_missing_file_is_a_policy_error(tmp_path):
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policy(tmp_path / "nope.toml")
