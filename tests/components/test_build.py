"""`sandbench build`: one clear line for every way a build fails, the build cache, the
signature, and nothing left behind. Real componentize-py throughout (each run takes
seconds, so only the failures that need it run it)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from sandbench.cli import cli
from sandbench.components import build
from sandbench.errors import BuildError
from tests.components.builds import BUILD_CACHE
from tests.conftest import problems

COMPONENT_RUNTIME = {"kind": "wasm", "abi": "component", "entry": "module.wasm", "source": "app.py"}
HANDLER = "from sandbench_guest import Response\n\n\ndef handle(request):\n    return Response.text('hi')\n"


def module(folder: Path, source: str | None, runtime: dict[str, str] | None = None) -> Path:
    """A module folder with `app.py` (unless `source` is None) and its manifest."""
    folder.mkdir()
    manifest = {
        "name": "@tests/build",
        "version": "1.0.0",
        "runtime": runtime or COMPONENT_RUNTIME,
        "security": {"permissions": [], "limits": {"memory": "64MB", "timeout": "2s"}},
    }
    (folder / "module.json").write_text(json.dumps(manifest, indent=2))
    if source is not None:
        (folder / "app.py").write_text(source)
    return folder


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    lines = problems(result.output)  # without the progress lines on stderr
    return result.exit_code, "".join(f"{line}\n" for line in lines)


def componentize_children() -> list[str]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            command = " ".join(child.cmdline())
        except psutil.Error:  # gone meanwhile
            continue
        if "componentize" in command:
            found.append(command)
    return found


# name -> (app.py, runtime, the fragments the one line must hold). The first five are
# refused before componentize-py runs; the last two are componentize-py's own failures.
NOT_BUNDLED = "which is neither in the component's Python standard library nor in the module folder"
FAILURES = {
    "syntax-error": (
        "import json\n\ndef handle(request)\n    return 1\n",
        None,
        ["app.py: line 3:", "fix the syntax error"],
    ),
    "plain-socket-import": (
        "import json\nimport socket\n" + HANDLER,
        None,
        ["app.py: line 2: imports socket; there are no sockets in the sandbox"],
    ),
    "plain-subprocess-import": (
        "from subprocess import run\n" + HANDLER,
        None,
        ["app.py: line 1: imports subprocess; there are no processes in the sandbox"],
    ),
    "not-a-component": (
        HANDLER,
        {"kind": "wasm", "abi": "reactor", "entry": "module.wasm"},
        ["module.json: runtime: `sandbench build` needs kind wasm, abi component and source"],
    ),
    "missing-source": (
        None,
        None,
        ["app.py: runtime.source: no such file in the module folder"],
    ),
    # click is installed where sandbench runs, but not in the module folder nor in the
    # component's standard library: it must not be bundled from the build machine.
    "import-not-bundled": (
        "import json\nimport click\n" + HANDLER,
        None,
        ["app.py: imports click (app.py, line 2), " + NOT_BUNDLED],
    ),
    "top-level-raises": (
        "RATES = {'EUR': 1}\nRATE = RATES['USD']\n" + HANDLER,
        None,
        [
            "app.py: running the module's top level while building raised KeyError: 'USD' "
            "(app.py, line 2)"
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_a_failed_build_is_one_line_exit_2_and_leaves_nothing_behind(
    case, tmp_path, cache_dir, monkeypatch
):
    source, runtime, fragments = FAILURES[case]
    folder = module(tmp_path / case, source, runtime)
    before = sorted(p.name for p in folder.iterdir())
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    code, output = run("build", str(folder), "--cache-dir", str(cache_dir))
    assert code == 2, output
    assert output.count("\n") == 1, output
    assert output.startswith(f"sandbench: error: {folder}/"), output
    for fragment in fragments:
        assert fragment in output
    assert "Traceback" not in output
    assert sorted(p.name for p in folder.iterdir()) == before  # no module.wasm, no __pycache__
    assert json.loads((folder / "module.json").read_text()).get("signature") is None
    assert list(private_tmp.iterdir()) == []  # the build's work folder is gone
    assert componentize_children() == []


def test_every_refused_import_is_listed_with_its_line(tmp_path, cache_dir):
    source = "import socket\nimport json\n\n\ndef handle(request):\n    import subprocess\n"
    folder = module(tmp_path / "both", source)
    with pytest.raises(BuildError) as caught:
        build(folder, cache_dir=cache_dir)
    assert caught.value.path == folder / "app.py"
    assert [p.split(";")[0] for p in caught.value.problems] == [
        "line 1: imports socket",
        "line 6: imports subprocess",
    ]


def test_a_rebuild_of_unchanged_sources_comes_from_the_cache_and_is_signed(components):
    folder = components["pricing-py"]
    first = components.results["pricing-py"]  # built now, or in an earlier session
    assert first.component == folder / "module.wasm"
    assert first.componentize_py == "0.25.1"
    again = build(folder, cache_dir=BUILD_CACHE)
    assert again.cached
    assert again.component.read_bytes()[:8] == b"\0asm\x0d\x00\x01\x00"  # a component
    assert again.size_bytes == first.size_bytes
    assert again.signature == json.loads((folder / "module.json").read_text())["signature"]
    code, output = run("manifest", "validate", str(folder))
    assert code == 0, output
    assert "__pycache__" not in os.listdir(folder)


def test_the_cli_reports_a_cached_build(components):
    folder = components["py-socket"]
    code, output = run("build", str(folder), "--cache-dir", str(BUILD_CACHE))
    assert code == 0, output
    assert output.startswith(f"built {folder / 'module.wasm'} (")
    assert "from the build cache); signature SHA256:" in output


@pytest.mark.parametrize(
    "source",
    ["x = 1" + " + 1" * 100_000 + "\n", "x = " + "-" * 100_000 + "1\n"],
    ids=["recursion", "memory"],
)
def test_a_source_nested_too_deeply_is_one_line(tmp_path, source):
    folder = module(tmp_path / "deep", source, None)
    code, output = run("build", str(folder))
    assert code == 2, output
    assert output.count("\n") == 1, output
    assert output.strip().endswith("nested too deeply for Python's parser; simplify the file")


def test_an_entry_folder_that_links_out_of_the_module_is_refused(tmp_path):
    folder = module(tmp_path / "linked", "def handle(request):\n    return 'ok'\n", None)
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "dist").symlink_to(outside)
    manifest = json.loads((folder / "module.json").read_text())
    manifest["runtime"]["entry"] = "dist/module.wasm"
    (folder / "module.json").write_text(json.dumps(manifest))
    code, output = run("build", str(folder))
    assert code == 2, output
    assert "runtime.entry: dist/module.wasm leads out of the module folder" in output
    assert list(outside.iterdir()) == []
