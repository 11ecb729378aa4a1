"""`sandbench new DIR`: a module to start from that builds and checks healthy as written."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sandbench.cli import cli
from sandbench.manifests import load, parse_manifest
from sandbench.sandbox import Grants, Request, SandboxLimits
from sandbench.sandbox.wasm import WasmBackend
from tests.components.builds import BUILD_CACHE
from tests.conftest import problems


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_new_writes_a_valid_component_manifest_and_a_handler(tmp_path):
    folder = tmp_path / "My Quotes"
    result = invoke("new", str(folder))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["app.py", "module.json"]
    manifest = parse_manifest((folder / "module.json").read_text())
    assert manifest.name == "my-quotes", "the folder's name, made a valid module name"
    assert (manifest.runtime.abi, manifest.runtime.source) == ("component", "app.py")
    compile((folder / "app.py").read_text(), "app.py", "exec")
    assert result.output.splitlines()[-1] == (
        f"next: sandbench build '{folder}' && sandbench check '{folder}'"
    )
    assert "license" not in (folder / "module.json").read_text(), "the author's choice"
    assert 'note: no "license" in module.json yet; `sandbench gate` asks for one' in result.output
    named = invoke("new", str(tmp_path / "other"), "--name", "@acme/quotes", "--license", "MIT")
    assert named.exit_code == 0, named.output
    raw = json.loads((tmp_path / "other" / "module.json").read_text())
    assert (raw["name"], raw["license"]) == ("@acme/quotes", "MIT")
    assert "note:" not in named.output


def test_new_overwrites_nothing_and_refuses_a_bad_name_in_one_line(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "app.py").write_text("# my work\n")
    taken = invoke("new", str(folder))
    assert taken.exit_code == 2
    assert taken.output.splitlines() == [
        f"sandbench: error: {folder}: is not empty; give a new folder (nothing is overwritten)"
    ]
    assert (folder / "app.py").read_text() == "# my work\n"
    bad = invoke("new", str(tmp_path / "x"), "--name", "Bad Name")
    assert bad.exit_code == 2
    assert bad.output.splitlines() == [
        f'sandbench: error: {tmp_path / "x" / "module.json"}: name: "Bad Name" is invalid: '
        "expected a lower-case package name such as @scope/name or name"
    ]
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_a_new_module_builds_and_checks_healthy(tmp_path, monkeypatch):
    folder = tmp_path / "starter"
    assert invoke("new", str(folder)).exit_code == 0
    built = invoke("build", str(folder), "--cache-dir", str(BUILD_CACHE))
    assert built.exit_code == 0, built.output
    monkeypatch.setenv("SANDBENCH_CACHE_DIR", str(tmp_path / "cache"))
    checked = invoke("check", str(folder), "--calls", "3")
    assert problems(checked.stderr) == []
    head, *lines = [line.strip() for line in checked.stdout.splitlines()]
    assert "health     GET /: 3/3 answered 200" in " ".join(lines), checked.stdout
    assert "violation" not in checked.stdout
    # Healthy; only a latency measured while the machine was too busy may say otherwise.
    reasons = {line.split()[1] for line in lines if line.startswith(("DEGRADED", "CRITICAL"))}
    assert (head, checked.exit_code) == ("starter 0.1.0: HEALTHY", 0) or reasons == {
        "latency-p95:"
    }, checked.stdout
    with WasmBackend(tmp_path / "cache") as backend:  # compiled by the check: a cache hit
        loaded = backend.load(load(folder), SandboxLimits(memory_bytes=64_000_000), Grants())
        assert loaded.instance is not None, loaded.violation
        with loaded.instance as instance:
            echo = instance.invoke(Request(method="POST", path="/echo", body=b'{"a": [1]}'))
            missing = instance.invoke(Request(path="/nope"))
    assert echo.response is not None
    assert missing.response is not None
    assert (echo.response.status, json.loads(echo.response.body)) == (200, {"echo": {"a": [1]}})
    assert missing.response.status == 404
    # An edit without a rebuild: the report says what to run.
    with (folder / "app.py").open("a") as app:
        app.write("# changed\n")
    stale = invoke("check", str(folder), "--calls", "1")
    assert stale.exit_code == 1
    assert "changed them? `sandbench build DIR` (a Python component: rebuilds too)" in stale.stdout
