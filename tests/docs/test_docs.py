"""Docs that run: every fenced block of README.md and docs/*.md is executed or validated.

| block | what the test does |
|---|---|
| ```console | runs each `$ ` line with bash in a working folder holding a copy of examples/ (one folder per document, so that a later block continues an earlier one): no traceback, no internal error, a usage error (exit 2) only where the block shows `sandbench: error:`, every `sandbench: error:` line it shows printed, and `$ echo $?` matching |
| ```sh | the same, for blocks without output |
| ```toml | a policy through `load_policy`, a nightly config (`[nightly]`) through `load_config` |
| ```json | a manifest through `parse_manifest` (a `"runtime": {...}` fragment inside a minimal one), a health report through `HealthReport` |
| ```yaml | parsed; the alert rules in it are evaluated by test_alert_rules.py |
| ```python | compiled |
| others (wat, wit, output listings) | none: they are not commands or configuration |

A block that cannot run here says so on the line before its fence, with the reason:
`<!-- docs-test: skip REASON -->`, or `<!-- docs-test: tested-by PATH -->` when another test
runs it (PATH must name the document). `<!-- docs-test: setup NAME -->` prepares files the
block's commands expect (`SETUPS`). New blocks are picked up as they are written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from sandbench.manifests import parse_manifest
from sandbench.nightly import load_config
from sandbench.policy import load_policy
from sandbench.reports import HealthReport

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
_MARK = re.compile(r"<!-- docs-test: (skip|tested-by|setup) (.+?) -->\s*$")
COMMANDS = {"console", "sh"}
CHECKED = COMMANDS | {"toml", "json", "yaml", "python"}
MAX_SKIPS = 8  # "rare": raise it only with a reason in the block's marker
# Not commands or configuration: output listings (no language), WebAssembly text and WIT.
LISTINGS = {"", "text", "wat", "wit"}


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int
    lang: str
    text: str
    mark: tuple[str, str] | None

    @property
    def name(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}:{self.lang or 'text'}"


def blocks() -> list[Block]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            mark = _MARK.search(before)
            pair = (mark.group(1), mark.group(2)) if mark else None
            found.append(Block(doc, line, match.group(1), match.group(2), pair))
    return found


ALL = blocks()
CHECKED_BLOCKS = [b for b in ALL if b.lang in CHECKED]


def test_every_block_is_checked_or_a_listing():
    unknown = [b.name for b in ALL if b.lang not in CHECKED | LISTINGS]
    assert unknown == [], "add a check for these languages to test_docs.py"


def test_skips_are_rare_and_say_why():
    skips = [b for b in CHECKED_BLOCKS if b.mark and b.mark[0] == "skip"]
    assert len(skips) <= MAX_SKIPS, [b.name for b in skips]
    assert all(len(b.mark[1]) > 20 for b in skips)


# Configuration


def _shown_keys_exist(shown: object, real: object, where: str) -> None:
    """Every key an abridged document shows (`"...": "..."` marks what it leaves out) is in
    `real` at the same place."""
    if isinstance(shown, dict) and isinstance(real, dict):
        for key, value in shown.items():
            if key == "...":
                continue
            assert key in real, f"{where}.{key} is not in a real report"
            _shown_keys_exist(value, real[key], f"{where}.{key}")
    elif isinstance(shown, list) and isinstance(real, list) and shown and real:
        _shown_keys_exist(shown[0], real[0], f"{where}[0]")


@pytest.fixture(scope="module")
def real_report() -> dict[str, object]:
    """`sandbench check examples/modules/vendas --format json`, as a dict."""
    from sandbench import check

    return check(ROOT / "examples/modules/vendas").model_dump(by_alias=True, mode="json")


def _json(block: Block, tmp_path: Path, real_report: dict[str, object]) -> None:
    text = block.text.strip()
    if text.startswith('"runtime"'):
        runtime = json.loads("{" + text + "}")["runtime"]
        entry = {"wasm": {}, "container": {}}[runtime["kind"]]
        manifest = {"name": "@docs/fragment", "version": "1.0.0", "runtime": runtime, **entry}
        parse_manifest(json.dumps(manifest))
        return
    data = json.loads(text.replace('"SHA256:<hex>"', '"SHA256:' + "0" * 64 + '"'))
    if "schemaVersion" in data and '"..."' in text:  # abridged: its keys are real ones
        _shown_keys_exist(data, real_report, "report")
    elif "schemaVersion" in data:
        HealthReport.model_validate(data)
    else:
        parse_manifest(json.dumps(data))


def _toml(block: Block, tmp_path: Path) -> None:
    data = tomllib.loads(block.text)
    path = tmp_path / "block.toml"
    path.write_text(block.text, encoding="utf-8")
    if "nightly" in data:
        _nightly_files(data, tmp_path)
        load_config(path)
    else:
        load_policy(path)


def _nightly_files(data: dict[str, object], folder: Path) -> None:
    """The modules, archives, index files and policies a nightly config names, made from
    examples/modules/hello, so that the real loader resolves them."""
    hello = ROOT / "examples/modules/hello"
    modules = data.get("modules", {})
    matrix = data.get("matrix", {})
    assert isinstance(modules, dict)
    assert isinstance(matrix, dict)
    for entry in modules.get("paths", []):
        target = folder / entry
        target.parent.mkdir(parents=True, exist_ok=True)
        if "*" in entry:
            shutil.copytree(hello, target.parent / "hello", dirs_exist_ok=True)
        elif entry.endswith(".tar.gz"):
            _hello_archive(target)
        elif entry.endswith((".txt", ".list")):
            shutil.copytree(hello, target.parent / "listed", dirs_exist_ok=True)
            target.write_text("listed\n")
    for policy in matrix.get("policy", []):
        (folder / policy).write_text("version = 1\n")
    baselines = data.get("baselines", {})
    assert isinstance(baselines, dict)
    for known_good in baselines.values():  # each module's last known-good artifact
        target = folder / known_good
        target.parent.mkdir(parents=True, exist_ok=True)
        if known_good.endswith(".tar.gz"):
            _hello_archive(target)
        else:
            shutil.copytree(hello, target, dirs_exist_ok=True)


def _hello_archive(target: Path) -> None:
    """examples/modules/hello packed as the `.tar.gz` at `target`."""
    hello = ROOT / "examples/modules/hello"
    shutil.make_archive(str(target).removesuffix(".tar.gz"), "gztar", hello.parent, "hello")


# Commands

SANDBENCH_BIN = Path(sys.executable).parent


def _examples_copy(folder: Path) -> None:
    shutil.copytree(ROOT / "examples", folder / "examples", ignore=shutil.ignore_patterns("*.db"))


def _setup_broken(cwd: Path) -> None:
    raw = json.loads((ROOT / "examples/modules/vendas/module.json").read_text())
    raw.update(version="2.1")
    raw["security"]["limits"]["memory"] = "256XB"
    raw["security"]["permissions"] = ["foo:bar:baz"]
    (cwd / "broken").mkdir()
    (cwd / "broken" / "module.json").write_text(json.dumps(raw))


def _setup_archives(cwd: Path) -> None:
    shutil.make_archive(str(cwd / "vendas-1.0.0"), "gztar", ROOT / "examples/modules", "vendas")
    with zipfile.ZipFile(cwd / "evil.zip", "w") as archive:
        archive.writestr("../../outside.txt", "x")


def _setup_bad_component(cwd: Path) -> None:
    bad = cwd / "bad"
    bad.mkdir()
    (bad / "app.py").write_text(
        "import json\nimport socket\n\n\ndef handle(request):\n    import subprocess\n"
    )
    (bad / "module.json").write_text(
        json.dumps(
            {
                "name": "@docs/bad",
                "version": "1.0.0",
                "runtime": {"kind": "wasm", "abi": "component", "entry": "module.wasm",
                            "source": "app.py"},
            }
        )
    )  # fmt: skip


def _keygen(cwd: Path, name: str, *args: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-f", str(cwd / name), *args], check=True, capture_output=True
    )


def _setup_sign_keys(cwd: Path) -> None:
    shutil.copytree(ROOT / "examples/modules/vendas", cwd / "vendas")
    _keygen(cwd, "bob_rsa", "-t", "rsa", "-b", "3072", "-N", "my passphrase")
    _keygen(cwd, "carol_ecdsa", "-t", "ecdsa", "-b", "384", "-N", "")


def _setup_sign_alice(cwd: Path) -> None:
    shutil.rmtree(cwd / "vendas", ignore_errors=True)
    shutil.copytree(ROOT / "examples/modules/vendas", cwd / "vendas")
    _keygen(cwd, "alice_ed25519", "-t", "ed25519", "-C", "alice@example.com", "-N", "")
    key = (cwd / "alice_ed25519.pub").read_text().strip()
    (cwd / "allowed_signers").write_text(f'@examples/* namespaces="sandbench" {key}\n')


SETUPS = {
    "broken": _setup_broken,
    "archives": _setup_archives,
    "bad-component": _setup_bad_component,
    "sign-keys": _setup_sign_keys,
    "sign-alice": _setup_sign_alice,
}


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
    """One working folder per document, each with a copy of examples/."""
    made: dict[Path, Path] = {}

    def get(doc: Path) -> Path:
        if doc not in made:
            made[doc] = tmp_path_factory.mktemp(doc.stem)
            _examples_copy(made[doc])
        return made[doc]

    return get


def _commands(block: Block) -> list[tuple[str, list[str]]]:
    """(command, the output lines the block shows for it)."""
    if block.lang == "sh":
        lines = [line.split("  #")[0].strip() for line in block.text.splitlines()]
        return [(line, []) for line in lines if line]
    found: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            found.append((line[2:], []))
        elif found:
            found[-1][1].append(line)
    return found


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{SANDBENCH_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("SANDBENCH_POLICY", None)
    env["SANDBENCH_CACHE_DIR"] = str(cwd / ".cache")
    return subprocess.run(  # noqa: S602 - the docs' own command lines
        command, shell=True, cwd=cwd, env=env, capture_output=True, text=True,
        timeout=600, check=False, executable="/bin/bash",
    )  # fmt: skip


def _commands_run(block: Block, cwd: Path) -> None:
    last = 0
    for command, shown in _commands(block):
        if command == "echo $?":
            assert shown, (block.name, command)
            assert int(shown[0]) == last, (block.name, command, last)
            continue
        done = _run(command, cwd)
        # The documents show paths relative to the folder the commands ran in.
        out = (done.stdout + done.stderr).replace(f"{cwd}{os.sep}", "")
        where = f"{block.name}: `{command}` exited {done.returncode}:\n{out[-2000:]}"
        assert "Traceback" not in out, where
        assert "internal error" not in out, where
        errors = [line for line in shown if line.startswith("sandbench: error: ")]
        assert done.returncode != 3, where
        assert done.returncode != 2 or errors, where
        for line in errors:
            assert line in out.splitlines(), f"{where}\nexpected: {line}"
        last = done.returncode


# A block marked `skip` gets no test case at all: CI fails on any skipped test (tests/conftest.py),
# and `test_skips_are_rare_and_say_why` holds those blocks to account instead.
PARAMS = [
    pytest.param(b, id=b.name, marks=[pytest.mark.slow] if b.lang in COMMANDS else [])
    for b in CHECKED_BLOCKS
    if not (b.mark and b.mark[0] == "skip")
]


@pytest.mark.parametrize("block", PARAMS)
def test_block(block: Block, tmp_path: Path, workdirs, request) -> None:
    if block.mark and block.mark[0] == "tested-by":
        tester = ROOT / block.mark[1]
        assert block.doc.name in tester.read_text(), f"{tester} does not read {block.doc.name}"
        return
    if block.lang in COMMANDS:
        cwd = workdirs(block.doc)
        if block.mark and block.mark[0] == "setup":
            SETUPS[block.mark[1]](cwd)
        _commands_run(block, cwd)
    elif block.lang == "json":
        _json(block, tmp_path, request.getfixturevalue("real_report"))
    elif block.lang == "toml":
        _toml(block, tmp_path)
    elif block.lang == "yaml":
        assert isinstance(yaml.safe_load(block.text), dict)
    else:
        compile(block.text, block.name, "exec")
