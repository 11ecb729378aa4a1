"""The `sandbench` command through click's runner: output, exit codes, one-line errors."""

from __future__ import annotations

import gzip
import json

import jsonschema
import pytest
from click.testing import CliRunner

from sandbench.cli import cli
from sandbench.cli.output import pins_from
from sandbench.errors import UsageProblem
from tests.conftest import EXAMPLES, problems
from tests.sandbox import wat


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


def test_check_healthy_example_exits_0_with_a_summary(cache_dir):
    result = invoke("check", str(EXAMPLES / "hello"), "--cache-dir", str(cache_dir))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("@examples/hello 1.0.0: HEALTHY\n")


def test_check_json_is_the_health_report(cache_dir):
    result = invoke(
        "check", str(EXAMPLES / "vendas"), "--format", "json", "--cache-dir", str(cache_dir)
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["moduleId"], data["status"]) == ("@examples/vendas", "healthy")
    schema = json.loads(invoke("report", "schema").output)
    jsonschema.validate(data, schema)


def test_format_can_come_from_the_environment(cache_dir):
    result = invoke(
        "check",
        str(EXAMPLES / "hello"),
        "--cache-dir",
        str(cache_dir),
        env={"SANDBENCH_FORMAT": "json"},
    )
    assert json.loads(result.stdout)["status"] == "healthy"


def test_check_hostile_example_exits_1(cache_dir):
    result = invoke(
        "check", str(EXAMPLES / "hostile" / "infinite-loop"), "--cache-dir", str(cache_dir)
    )
    assert result.exit_code == 1
    assert "CRITICAL" in result.stdout.splitlines()[0]


def test_invalid_manifest_exits_2_with_one_line_per_problem(make_module):
    root = make_module(wat.OK, version="1.0", limits={"memory": "lots", "cpu": "1"})
    result = invoke("check", str(root))
    assert result.exit_code == 2
    assert result.stderr.startswith("[1/4] validating\n"), "progress, then the problems"
    lines = problems(result.output)
    assert lines == [
        f'sandbench: error: {root}/module.json: version: "1.0" is invalid: '
        "expected a semantic version such as 2.1.0 or 1.0.0-rc.1",
        f'sandbench: error: {root}/module.json: security.limits.memory: "lots" is invalid: '
        "expected a size such as 256MB, 512MiB or 1GB",
    ]
    assert "Traceback" not in result.output


def test_missing_module_exits_2(tmp_path):
    result = invoke("check", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "not a directory" in result.output


def test_unusable_cache_folder_is_an_environment_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = invoke("check", str(EXAMPLES / "hello"), "--cache-dir", str(blocker / "sub"))
    assert result.exit_code == 3
    [line] = problems(result.output)
    assert line.startswith("sandbench: error: cache folder")
    assert "SANDBENCH_CACHE_DIR" in result.output


def test_manifest_validate_good_and_bad(make_module):
    good = invoke("manifest", "validate", str(EXAMPLES / "vendas"))
    assert good.exit_code == 0
    assert good.output == (
        "@examples/vendas 1.0.0: valid (wasm/command, 0 permissions, signature valid, "
        "no module.sig)\n"
    )
    bad = invoke("manifest", "validate", str(make_module(wat.OK, runtime={"kind": "docker"})))
    assert bad.exit_code == 2
    assert "runtime.kind: \"docker\" is invalid: expected 'wasm'" in bad.output


def test_digest_write_signs_and_a_change_breaks_the_signature(make_module):
    root = make_module(wat.OK)
    signed = invoke("manifest", "digest", "--write", str(root))
    assert signed.exit_code == 0
    assert json.loads((root / "module.json").read_text())["signature"] == signed.output.strip()
    assert "signature valid" in invoke("manifest", "validate", str(root)).output
    (root / "module.wat").write_text(wat.TRAP)
    tampered = invoke("manifest", "validate", str(root))
    assert tampered.exit_code == 2
    assert "signature: does not match the module's digest" in tampered.output


def test_schemas_are_valid_json_schema():
    for group in ("manifest", "report"):
        result = invoke(group, "schema")
        assert result.exit_code == 0
        jsonschema.Draft202012Validator.check_schema(json.loads(result.output))


def test_internal_errors_are_one_line(monkeypatch, make_module):
    import sandbench.cli.check as check_cli

    def boom(*args, **kwargs):
        raise RuntimeError("surprise")

    monkeypatch.setattr(check_cli, "check", boom)
    result = invoke("check", str(make_module(wat.OK)))
    assert result.exit_code == 3
    assert result.output.startswith("sandbench: internal error: RuntimeError: surprise")


def test_check_resolve_points_the_http_capability_at_a_test_server(cache_dir):
    from tests.hostapi.server import serve

    module = str(EXAMPLES / "host-http")
    with serve() as address:
        pinned = invoke("check", module, "--resolve", f"crm.example.com={address}",
                        "--cache-dir", str(cache_dir), "--format", "json")  # fmt: skip
    assert pinned.exit_code == 0, pinned.output
    calls = json.loads(pinned.stdout)["hostApi"]["calls"]
    assert [(c["target"], c["code"]) for c in calls] == [("crm.example.com", "ok")]
    bad = invoke("check", module, "--resolve", "crm.example.com")
    assert bad.exit_code == 2
    expected = "expected HOST:PORT:ADDR or HOST=ADDR:PORT"
    assert bad.output == f"sandbench: error: --resolve 'crm.example.com': {expected}\n"


@pytest.mark.parametrize(
    ("given", "pins"),
    [
        (("crm.example.com:443:127.0.0.1",), {"crm.example.com": "127.0.0.1:443"}),
        (("CRM.example.com.:8080:[::1]",), {"crm.example.com": "[::1]:8080"}),
        (("crm.example.com=127.0.0.1:9000",), {"crm.example.com": "127.0.0.1:9000"}),
    ],
)
def test_resolve_takes_curls_syntax_and_the_older_one(given, pins):
    assert pins_from(given) == pins


@pytest.mark.parametrize("bad", ["crm.example.com", "crm:x:127.0.0.1", "crm:80:", ":80:1.2.3.4"])
def test_a_malformed_resolve_is_a_usage_problem(bad):
    with pytest.raises(UsageProblem, match="expected HOST:PORT:ADDR"):
        pins_from((bad,))


def test_check_database_keeps_the_sqlite_schemas_in_a_folder(tmp_path, cache_dir):
    args = ["check", str(EXAMPLES / "host-db"), "--database", str(tmp_path),
            "--cache-dir", str(cache_dir), "--calls", "2"]  # fmt: skip
    assert invoke(*args).exit_code == 0
    assert [p.suffix for p in tmp_path.iterdir()] == [".sqlite3"]


@pytest.mark.parametrize("command", ["bench", "serve", "gate"])
def test_bench_serve_and_gate_take_resolve_too(command):
    bad = invoke(command, str(EXAMPLES / "host-http"), "--resolve", "crm.example.com:80:")
    assert bad.exit_code == 2
    assert "--resolve 'crm.example.com:80:': expected HOST:PORT:ADDR" in bad.output


def test_served_and_benched_modules_get_the_pins():
    from contextlib import ExitStack

    from sandbench.hostapi import HostSettings, HttpSettings
    from sandbench.runtime.server import module_specs
    from sandbench.sandbox import SandboxLimits

    pins = {"crm.example.com": "127.0.0.1:9"}
    host = HostSettings(http=HttpSettings(resolve=pins))
    with ExitStack() as stack:
        (spec,) = module_specs(
            [EXAMPLES / "host-http"], SandboxLimits(), SandboxLimits(), stack, host
        )
    assert spec.grants.host.http.resolve == pins


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"description": "\ud800"}, "description: "),
        ({"author": {"name": "x\udfff"}}, "author.name: "),
        ({"runtime": {"kind": "wasm", "entry": "m\x00.wasm"}}, "runtime.entry: "),
        ({"runtime": {"kind": "wasm", "entry": "a" * 300 + ".wasm"}}, "runtime.entry: "),
        ({"runtime": {"kind": "wasm", "entry": "d/" * 600 + "m.wasm"}}, "runtime.entry: "),
        ({"name": "\x1b[2Jx"}, "name: "),
        ({"security": {"permissions": ["storage:read:" + "\x1b]0;pwned\x07" * 5000]}}, "security"),
    ],
)
def test_hostile_manifest_strings_exit_2_in_one_escaped_line(tmp_path, fields, named):
    root = tmp_path / "m"
    root.mkdir()
    raw = {"name": "m", "version": "1.0.0", "runtime": {"kind": "wasm", "entry": "m.wasm"}}
    (root / "module.json").write_text(json.dumps({**raw, **fields}), encoding="ascii")
    (root / "m.wasm").write_bytes(b"\0asm\1\0\0\0")
    result = CliRunner().invoke(cli, ["gate", str(root)])
    assert result.exit_code == 2, result.output
    [line] = problems(result.output)
    assert line.startswith(f"sandbench: error: {root}/module.json: {named}"), line
    assert line.isprintable()
    assert len(line) < 400


def test_a_corrupt_tar_gz_is_one_line_and_exit_2(tmp_path):
    archive = tmp_path / "m.tar.gz"
    archive.write_bytes(gzip.compress(b"\x1b[2J not a tar" * 1000)[:-8] + b"\0" * 8)
    result = CliRunner().invoke(cli, ["gate", str(archive)])
    assert result.exit_code == 2, result.output
    [line] = problems(result.output)
    assert line.startswith(f"sandbench: error: {archive}: corrupt or unreadable archive"), line
    assert line.isprintable()
