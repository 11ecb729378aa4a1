"""Whatever a module ships is scanned, or the scan fails closed naming the file (issue 15)."""

from __future__ import annotations

import os
import sys
from datetime import date

import pytest

from sandbench.scanners import CoverageScanner, Ignore, ScanPolicy, default_scanners, scan_all
from sandbench.scanners.coverage import MAX_REPORTED, unscanned

from .conftest import EXAMPLES

CLEAN = "def handler(request):\n    return {'ok': True}\n"


def _flagged(package) -> dict[str, str]:
    result = CoverageScanner().scan(package)
    assert result.skipped_reason is None
    assert all(f.rule_id == "not-scanned" and f.severity.value == "high" for f in result.findings)
    return {str(f.path): f.message for f in result.findings}


@pytest.mark.parametrize(
    ("rel", "data", "why"),
    [
        ("venv/lib/python3.11/site-packages/evil.py", CLEAN, "under venv/, a folder every"),
        (".venv/bin/activate", "echo hi\n", "under .venv/"),
        ("node_modules/left-pad/index.js", "module.exports = 1\n", "under node_modules/"),
        ("app/deep/.tox/py311/x.py", CLEAN, "under app/deep/.tox/"),
        ("app/big.py", "x = 1\n" * (2 * 1024 * 1024 // 6 + 1), "larger than 2 MiB"),
        ("app/broken.py", "def (:\n", "does not parse on this host's Python"),
        ("app/nul.py", "x = 1\0\n", "does not parse on this host's Python"),
        ("app/nested.py", "x = " + "(" * 5000 + ")" * 5000 + "\n", "does not parse"),
        ("app/__pycache__/mod.cpython-311.pyc", b"\x00" * 32, "compiled Python bytecode"),
        ("app/mod.pyc", b"\x00" * 32, "compiled Python bytecode"),
        ("bin/tool", "#!/usr/bin/env python3\nimport os\n", "a Python script without the .py"),
    ],
)
def test_a_file_no_scanner_reads_is_a_high_finding_naming_it(make_package, rel, data, why):
    flagged = _flagged(make_package({rel: data, "app/ok.py": CLEAN}))
    assert list(flagged) == [rel]
    assert flagged[rel].startswith(f"{rel}: ")
    assert why in flagged[rel]


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="this syntax parses from Python 3.12 on")
@pytest.mark.parametrize(
    "source",
    [
        "type Alias = list[int]\n",
        "def first[T](items: list[T]) -> T:\n    return items[0]\n",
        'x = f"{\'a\' + f"{1}"}"\n',
    ],
)
def test_newer_syntax_than_the_host_fails_closed(make_package, source):
    flagged = _flagged(make_package({"app/new.py": source}))
    assert "does not parse on this host's Python 3.11" in flagged["app/new.py"]


def test_links_out_of_the_module_or_nowhere(make_package):
    package = make_package({"app/ok.py": CLEAN})
    os.symlink("/etc/passwd", package.root / "app" / "passwd.py")
    os.symlink("missing.py", package.root / "app" / "gone.py")
    os.symlink("ok.py", package.root / "app" / "alias.py")
    os.symlink("/usr/lib", package.root / "lib")
    flagged = _flagged(package)
    assert sorted(flagged) == ["app/gone.py", "app/passwd.py", "lib"]
    assert "outside the module" in flagged["app/passwd.py"]
    assert "does not exist" in flagged["app/gone.py"]


def test_many_files_are_capped_with_a_count(make_package):
    files = {f"venv/lib/m{i:03}.py": CLEAN for i in range(MAX_REPORTED + 5)}
    result = CoverageScanner().scan(make_package(files))
    assert len(result.findings) == MAX_REPORTED + 1
    assert result.findings[-1].message.endswith("and 5 more files like it")
    assert result.summary == f"{MAX_REPORTED + 5} shipped files no scanner reads"


EXAMPLE_MODULES = sorted(p.parent.relative_to(EXAMPLES) for p in EXAMPLES.rglob("module.json"))


@pytest.mark.parametrize("example", EXAMPLE_MODULES, ids=str)
def test_the_examples_ship_nothing_unscanned(example):
    assert list(unscanned(EXAMPLES / example)) == []


def test_the_scan_fails_and_a_policy_ignore_accepts_the_file(make_package):
    package = make_package({"venv/lib/evil.py": CLEAN})
    scanners = [s for s in default_scanners(ScanPolicy()) if s.name == "coverage"]
    assert scan_all(package, scanners).failed
    ignore = Ignore(rule="not-scanned", path="venv/lib/evil.py", reason="vendored, reviewed")
    policy = ScanPolicy(ignore=(ignore,))
    report = scan_all(package, scanners, policy, today=date(2026, 1, 1))
    assert not report.failed
    assert [s.finding.path.as_posix() for s in report.suppressed] == ["venv/lib/evil.py"]
