"""The import direction of docs/architecture.md is what import-linter checks, and it bites.

`make lint` runs `lint-imports` on pyproject.toml's contracts (issue 18 item 6); these tests
keep the page and the contract the same list, and show that an upward import fails it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [layers] = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    return [re.sub(r"\s*([|:])\s*", r" \1 ", layer).strip() for layer in layers]


def _lint(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=300,
    )


def test_the_page_shows_the_layers_the_contract_checks():
    page = (ROOT / "docs" / "architecture.md").read_text()
    block = re.search(r"^```text\n(.*?)^```", page, re.S | re.M)
    assert block is not None
    shown = [re.split(r"\s{2,}", line.strip())[0] for line in block[1].splitlines()]
    assert shown == _layers()


def test_the_code_keeps_the_contracts():
    done = _lint(ROOT, ROOT / "src")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    shutil.copytree(ROOT / "src" / "sandbench", tmp_path / "sandbench")
    units = tmp_path / "sandbench" / "manifests" / "units.py"
    units.write_text(units.read_text() + "\nimport sandbench.sandbox  # noqa: E402\n")
    done = _lint(tmp_path, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "sandbench.manifests.units -> sandbench.sandbox" in done.stdout
