"""Capability analysis of components: the binary's imports and exports, the Python
sources' host calls and file opens against the manifest's permissions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import sandbench
from sandbench.cli import cli
from sandbench.hostapi.abi import component_import_provided
from sandbench.manifests import load
from sandbench.reports import Status
from sandbench.scanners import CapabilityScanner, Severity
from tests.scanners.conftest import EXAMPLES, BuiltComponent
from tests.scanners.test_component_binary import PREAMBLE, name, section, vec

HOST = "sandbench:platform/host@1.0.0"
WASI_LINKED = ("wasi:filesystem/preopens@0.2.9", "wasi:sockets/tcp@0.2.9", "wasi:cli/stdout@0.2.9")


def component(imports: tuple[str, ...] = (*WASI_LINKED, HOST), export: str = "handle") -> bytes:
    """A component binary importing `imports` (instances) and exporting the func `export`."""
    entries = [name(item) + b"\x05\x00" for item in imports] + [name("request") + b"\x03\x00\x01"]
    return (
        PREAMBLE
        + section(7, vec(b"\x42\x00"))
        + section(10, vec(*entries))
        + section(11, vec(name(export) + b"\x01\x00\x00"))
    )


@pytest.fixture
def make_component(tmp_path: Path):
    """`make_component(app="...", permissions=[...], files={...})` -> a loaded package."""
    counter = iter(range(1000))

    def make(
        app: str | None = "def handle(request):\n    return {}\n",
        *,
        permissions: list[str] | None = None,
        entry_data: bytes | None = None,
        abi: str = "component",
        files: dict[str, str] | None = None,
    ):
        root = tmp_path / f"c{next(counter)}"
        root.mkdir()
        runtime: dict[str, Any] = {"kind": "wasm", "abi": abi, "entry": "module.wasm"}
        if app is not None:
            runtime["source"] = "app.py"
            (root / "app.py").write_text(app)
        manifest = {
            "name": "component-test",
            "version": "1.0.0",
            "runtime": runtime,
            "security": {"permissions": permissions or []},
        }
        (root / "module.json").write_text(json.dumps(manifest))
        (root / "module.wasm").write_bytes(component() if entry_data is None else entry_data)
        for rel, text in (files or {}).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        return load(root)

    return make


def _rules(package) -> list[tuple[str, str]]:
    return sorted((f.rule_id, f.severity.value) for f in CapabilityScanner().scan(package).findings)


def _findings(package):
    return CapabilityScanner().scan(package).findings


def test_built_python_component_has_no_capability_finding(built_pricing: BuiltComponent):
    result = CapabilityScanner().scan(load(built_pricing.root))
    assert result.findings == ()
    assert result.summary.startswith("30 imports, 2 exports; 1 Python files: 2 host calls")


def test_wasi_interfaces_the_python_runtime_links_are_not_findings(make_component):
    assert _rules(make_component()) == []


@pytest.mark.parametrize(
    ("name_", "provided"),
    [
        (HOST, True),
        ("sandbench:platform/types@1.0.0", True),
        ("sandbench:platform/host@2.0.0", False),
        ("sandbench:platform/secrets@1.0.0", False),
        ("wasi:http/outgoing-handler@0.2.9", False),  # add_wasip2 has no wasi:http
        ("wasi:io/poll@0.3.0", False),
        ("wasi:io/poll", False),
        ("acme:evil/launcher@1.0.0", False),
        ("launch-missiles", False),
    ],
)
def test_provided_interfaces_are_the_component_linkers(name_, provided):
    # One function (sandbench.hostapi.abi) serves the component linker and this scanner.
    assert component_import_provided(name_) is provided


def test_imports_the_linker_does_not_provide(make_component):
    data = component((*WASI_LINKED, HOST, "acme:evil/launcher@1.0.0", "wasi:io/poll@0.3.0"))
    findings = _findings(make_component(entry_data=data))
    assert [(f.rule_id, f.severity) for f in findings] == [("unknown-import", Severity.HIGH)] * 2
    assert "imports acme:evil/launcher@1.0.0 (instance)" in findings[0].message
    assert "will not link" in findings[0].message
    assert str(findings[0].path) == "module.wasm"


def test_a_component_without_handle(make_component):
    [finding] = _findings(make_component(entry_data=component(export="serve")))
    assert (finding.rule_id, finding.severity) == ("missing-export", Severity.CRITICAL)
    assert "'handle'" in finding.message


def test_abi_and_binary_must_agree(make_component):
    vendas = (EXAMPLES / "vendas" / "module.wasm").read_bytes()
    [core] = _findings(make_component(entry_data=vendas))
    assert core.rule_id == "malformed-module"
    assert "core WebAssembly module, not a component" in core.message
    [comp] = _findings(make_component(app=None, abi="command"))
    assert comp.rule_id == "malformed-module"
    assert "set runtime.abi to component" in comp.message


def test_truncated_component_is_malformed(make_component):
    [finding] = _findings(make_component(entry_data=component()[:-3]))
    assert (finding.rule_id, finding.severity) == ("malformed-module", Severity.CRITICAL)
    assert "section 11 size 12 runs past the end" in finding.message


GUEST_FROM = "from sandbench_guest import storage_read, storage_write, http_fetch, db_query\n"


@pytest.mark.parametrize(
    ("app", "permissions", "expected"),
    [
        # a literal bucket: granted, not granted, granted read-only for a write
        ('storage_read("docs", "a.txt")', ["storage:read:docs"], []),
        ('storage_read("docs", "a.txt")', [], [("undeclared-host-capability", "high")]),
        (
            'storage_read("docs", "a.txt")',
            ["storage:read:other"],
            [("undeclared-host-capability", "high"), ("unused-permission", "low")],
        ),
        ('storage_read("docs", "a.txt")', ["storage:write:docs"], []),
        (
            'storage_write(bucket="out", key="k", data=b"")',
            ["storage:read:out"],
            [("undeclared-host-capability", "high"), ("unused-permission", "low")],
        ),
        # a literal URL host, exact, by subdomain wildcard, by port; and from an f-string
        ('http_fetch("GET", "https://api.example.com/v1")', ["api:external:api.example.com"], []),
        ('http_fetch("GET", "https://api.example.com/v1")', ["api:external:*.example.com"], []),
        (
            'http_fetch("GET", "https://api.example.com:8443/")',
            ["api:external:api.example.com"],
            [],
        ),
        (
            'http_fetch("GET", "https://api.example.com/")',
            ["api:external:api.example.com:8443"],
            [("undeclared-host-capability", "high"), ("unused-permission", "low")],
        ),
        (
            'http_fetch("GET", f"https://api.example.com/o/{1}")',
            ["api:external:api.example.com"],
            [],
        ),
        (
            'http_fetch("POST", url=f"https://crm.example.org/o/{1}")',
            ["api:external:api.example.com"],
            [("undeclared-host-capability", "high"), ("unused-permission", "low")],
        ),
        # targets that are not literal: any permission of the kind may serve them
        ('http_fetch("GET", "ftp://files.example.com/x")', ["api:external:a.example.com"], []),
        ('http_fetch("GET", "https://a.example.com:99999/")', ["api:external:b.example.com"], []),
        ('http_fetch("GET", f"https://{HOST}/v1")', [], [("undeclared-host-capability", "high")]),
        ('http_fetch("GET", "/relative")', ["api:external:a.example.com"], []),
        ("http_fetch('GET', URL)", ["api:external:api.example.com"], []),
        ("storage_read(BUCKET, 'k')", [], [("undeclared-host-capability", "high")]),
        ("db_query(SCHEMA, 'select 1')", ["database:read:sales"], []),
        # log needs nothing; a permission nothing uses is the least-privilege finding
        ("", [], []),
        ("", ["database:read:sales"], [("unused-permission", "low")]),
    ],
)
def test_host_calls_against_permissions(make_component, app, permissions, expected):
    source = f"{GUEST_FROM}from sandbench_guest import log\nlog('info', 'x')\n{app}\n"
    assert _rules(make_component(source, permissions=permissions)) == expected


@pytest.mark.parametrize(
    "source",
    [
        "import sandbench_guest\nsandbench_guest.db_execute('sales', 'delete from t')\n",
        "import sandbench_guest as g\ng.db_execute('sales', 'delete from t')\n",
        "from sandbench_guest import *\ndb_execute('sales', 'delete from t')\n",
        "from sandbench_guest import db_execute as run\nrun('sales', 'delete from t')\n",
        "def handle(r):\n    from sandbench_guest import db_execute\n    db_execute('sales', '')\n",
    ],
)
def test_every_way_of_importing_the_guest_library(make_component, source):
    findings = _findings(make_component(source, permissions=["database:read:sales"]))
    assert [f.rule_id for f in findings] == ["undeclared-host-capability", "unused-permission"]
    call = findings[0]
    assert "db_execute('sales')" in call.message
    assert "database:write:sales" in call.message
    assert (str(call.path), call.line) == ("app.py", source.count("\n"))


def test_calls_in_other_module_files_count(make_component):
    package = make_component(
        "from helpers import save\n",
        permissions=["storage:write:out"],
        files={
            "helpers.py": "from sandbench_guest import storage_write\n"
            "def save(d):\n    storage_write('out', 'k', d)\n"
        },
    )
    assert _rules(package) == []
    nothing = make_component("x = 1\n", permissions=["storage:write:out"])
    assert _rules(nothing) == [("unused-permission", "low")]


@pytest.mark.parametrize(
    ("call", "permissions", "rule", "shown"),
    [
        ("open('/etc/passwd')", [], "file-outside-storage", "/etc/passwd for reading"),
        ("open('data.json')", [], "file-outside-storage", "/data.json for reading"),
        ("open('/storage')", [], "file-outside-storage", "/storage for reading"),
        ("open('/storage/docs/a', how)", ["storage:read:docs"], "undeclared-filesystem", "writing"),
        ("open('/storage/../etc/x')", ["storage:read:x"], "file-outside-storage", "/etc/x"),
        (
            "io.open('/storage/docs/a', 'wb')",
            ["storage:read:docs"],
            "undeclared-filesystem",
            "/storage/docs/a for writing but declares no storage:write:docs",
        ),
        (
            "Path('/storage/out/r.txt').write_text('x')",
            [],
            "undeclared-filesystem",
            "/storage/out/r.txt for writing",
        ),
        (
            "pathlib.Path('/storage/in/r.txt').read_bytes()",
            ["storage:write:out"],
            "undeclared-filesystem",
            "declares no storage:read:in",
        ),
    ],
)
def test_file_opens(make_component, call, permissions, rule, shown):
    findings = _findings(
        make_component(
            f"import io, pathlib\nfrom pathlib import Path\n{call}\n", permissions=permissions
        )
    )
    ours = [f for f in findings if f.rule_id != "unused-permission"]
    [finding] = ours
    assert (finding.rule_id, finding.severity) == (rule, Severity.HIGH)
    assert shown in finding.message
    assert finding.line == 3


@pytest.mark.parametrize(
    ("call", "permissions"),
    [
        ("open('/storage/docs/a.txt')", ["storage:read:docs"]),
        ("open('/storage/docs')", ["storage:read:docs"]),
        ("open('/storage/docs/a.txt', mode='a')", ["storage:write:docs"]),
        ("Path('/storage/out/r.txt').open('w')", ["storage:write:out"]),
        ("open(name)", []),  # not a literal: the sandbox decides at run time
        ("open()", []),
    ],
)
def test_granted_file_opens(make_component, call, permissions):
    source = f"from pathlib import Path\nname = 'x'\n{call}\n"
    assert _rules(make_component(source, permissions=permissions)) == []


def test_fingerprints_survive_moving_code(make_component):
    call = "from sandbench_guest import storage_read\nstorage_read('docs', 'k')\n"
    [before] = _findings(make_component(call))
    [after] = _findings(make_component("\n\n# moved\n" + call))
    assert (before.line, after.line) == (2, 5)
    assert before.fingerprint == after.fingerprint


@pytest.mark.parametrize(
    ("imports", "unused"),
    [
        ((*WASI_LINKED, HOST), []),
        (WASI_LINKED, ["api:external:api.example.com"]),
        (("wasi:cli/stdout@0.2.9",), ["api:external:api.example.com", "storage:read:docs"]),
    ],
)
def test_a_component_without_python_source(make_component, imports, unused):
    package = make_component(
        None,
        entry_data=component(imports),
        permissions=["storage:read:docs", "api:external:api.example.com"],
    )
    result = CapabilityScanner().scan(package)
    assert result.summary.endswith("no Python source")
    assert sorted(f.message.split()[1] for f in result.findings) == unused
    assert {f.rule_id for f in result.findings} <= {"unused-permission"}


def test_gate_on_a_built_python_component(built_pricing: BuiltComponent, backend, advisory_store):
    report = sandbench.gate(
        built_pricing.root, backend=backend, advisory_store=advisory_store, load_test=None
    )
    scans = {scan.scanner: scan for scan in report.scans}
    assert set(scans) == {
        "bandit",
        "pip-audit",
        "licenses",
        "capabilities",
        "manifest-lint",
        "malware",
        "coverage",
    }
    assert [s.skipped_reason for s in scans.values()] == [None] * len(scans)
    assert report.findings == []
    assert scans["capabilities"].summary.startswith("30 imports, 2 exports; 1 Python files")
    assert report.status is Status.HEALTHY


@pytest.mark.parametrize(
    ("source", "what", "why"),
    [
        ("import socket", "socket", "no sockets"),
        ("import importlib\nimportlib.import_module('subprocess')", "subprocess", "no processes"),
        ("x = __import__('ssl')", "ssl", "no sockets"),
        ("from multiprocessing import Pool", "multiprocessing", "no processes"),
        ("from urllib.request import urlopen", "urllib.request", "http_fetch"),
        ("import os\nos.system('ls')", "os.system", "no processes"),
        ("import os\nos.execv('/bin/sh', [])", "os.execv", "no processes"),
        ("try:\n    import socket\nexcept ImportError:\n    socket = None", "socket", "sockets"),
    ],
)
def test_what_the_sandbox_has_none_of(make_component, source, what, why):
    [finding] = _findings(make_component(source + "\n"))
    assert (finding.rule_id, finding.severity) == ("unavailable-in-sandbox", Severity.HIGH)
    assert finding.message.startswith(f"uses {what}: ")
    assert why in finding.message
    flagged = next(
        i for i, line in enumerate(source.splitlines(), 1) if what.split(".")[-1] in line
    )
    assert finding.line == flagged


@pytest.mark.parametrize(
    "source", ["import os\nos.getcwd()", "import json, re, decimal", "import socketserver_like"]
)
def test_ordinary_modules_are_not_flagged(make_component, source):
    assert _rules(make_component(source + "\n")) == []


HOSTILE = """\
import importlib
from sandbench_guest import Response, storage_write

def handle(request):
    importlib.import_module("socket")
    storage_write("reports", "out.csv", request.body)
    return Response.text(open("/etc/passwd").read())
"""


def test_scan_command_on_a_hostile_python_component(make_component, advisory_store):
    package = make_component(HOSTILE, permissions=["storage:read:reports"])
    result = CliRunner().invoke(
        cli,
        ["scan", str(package.root), "--format", "json", "--advisory-db", str(advisory_store)],
        env={"SANDBENCH_OSV_URL": ""},
    )
    assert result.exit_code == 1, result.output
    [caps] = [r for r in json.loads(result.output)["results"] if r["scanner"] == "capabilities"]
    found = sorted((f["ruleId"], f["line"]) for f in caps["findings"])
    assert found == [
        ("file-outside-storage", 7),
        ("unavailable-in-sandbox", 5),
        ("undeclared-host-capability", 6),
        ("unused-permission", None),
    ]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("def handle(:\n", "line 1: "),
        ("x = " + "+".join(["1"] * 200_000) + "\n", "nested too deeply to parse"),
        ("-" * 200_000 + "1\n", "nested too deeply to parse"),
        (b"x = '\xff'\n", "cannot be read"),
    ],
)
def test_a_source_that_cannot_be_analysed(make_component, source, problem):
    package = make_component("x = 1\n", permissions=["storage:read:docs"])
    path = package.root / "app.py"
    path.write_bytes(source if isinstance(source, bytes) else source.encode())
    [finding] = _findings(package)
    assert (finding.rule_id, finding.severity) == ("unreadable-source", Severity.MEDIUM)
    assert finding.message.startswith("cannot analyse app.py: ")
    assert problem in finding.message
    assert str(finding.path) == "app.py"
