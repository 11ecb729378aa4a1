"""`limits.files`, the limit added through the limit table: the lint checks it like the rest."""

from __future__ import annotations

from sandbench.policy import parse_policy
from sandbench.scanners import Ceilings, ManifestLintScanner


def _messages(package, ceilings=None):
    return [f.message for f in ManifestLintScanner(ceilings).scan(package).findings]


def test_files_above_the_ceiling_is_flagged(make_package):
    package = make_package(limits={"files": 100_000})
    assert _messages(package) == [
        "security.limits.files is 100000 files, above the ceiling of 65536 files; it will be "
        "cut down"
    ]
    assert _messages(make_package(limits={"files": "65536"})) == []


def test_the_policy_ceiling_reaches_the_lint(make_package, tmp_path):
    policy = parse_policy({"ceilings": {"files": 32}}, tmp_path / "policy.toml")
    assert policy.scan.ceilings == Ceilings(files=32)
    [message] = _messages(make_package(limits={"files": 64}), policy.scan.ceilings)
    assert message.startswith("security.limits.files is 64 files, above the ceiling of 32")


NOT_ENFORCED = (
    "security.limits.files is declared but not enforced for runtime.abi component: wasmtime "
    "links WASI 0.2 whole, natively, with no hook through which sandbench could count the "
    "files a component opens"
)


def test_files_declared_for_a_component_is_said_to_be_not_enforced(make_package):
    def component(**security):
        return make_package(entry="module.wasm", entry_data=b"\0asm", abi="component", **security)

    [finding] = ManifestLintScanner().scan(component(limits={"files": 64})).findings
    assert (finding.rule_id, finding.severity.value) == ("limit-not-enforced", "low")
    assert finding.message == NOT_ENFORCED
    assert _messages(component()) == []  # nothing declared: the report says it (pipeline)
    assert _messages(make_package(limits={"files": 64})) == []  # a core module: enforced
