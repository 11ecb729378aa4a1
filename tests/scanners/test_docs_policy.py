"""Every policy example in docs/scanners.md and in the scanners' policy docstring loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import sandbench.scanners.policy
from sandbench.policy import load_policy
from sandbench.scanners import Severity

from .conftest import ROOT

TOML = re.compile(r"```toml\n(.*?)```", re.S)
SOURCES = {
    "docs/scanners.md": (ROOT / "docs" / "scanners.md").read_text(),
    "scanners/policy.py": sandbench.scanners.policy.__doc__ or "",
}
EXAMPLES = [(name, block) for name, text in SOURCES.items() for block in TOML.findall(text)]


def test_there_are_examples():
    assert {name for name, _ in EXAMPLES} == set(SOURCES)


@pytest.mark.parametrize(("source", "block"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_a_policy_example_loads(tmp_path: Path, source: str, block: str):
    path = tmp_path / "policy.toml"
    path.write_text(block)
    policy = load_policy(path)
    assert policy.scan.fail_on is Severity.HIGH
    assert policy.scan.osv_url == "https://api.osv.dev/v1/query"
    assert policy.scan.ignore[0].rule == "B602"
