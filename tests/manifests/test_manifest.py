"""Parsing `module.json`: the platform's example, defaults, and one line per problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbench.errors import ManifestError, SandbenchError
from sandbench.manifests import (
    Author,
    HealthCheck,
    HealthExpect,
    HealthRequest,
    ManifestLimits,
    Permission,
    Rate,
    Resource,
    WasmRuntime,
    parse_manifest,
)
from tests.manifests.samples import DELETE, EXAMPLE, MINIMAL, SIGNATURE, example, text

ENTRY_INSIDE = "expected a relative path inside the module, e.g. module.wasm"
SEMVER = "expected a semantic version such as 2.1.0 or 1.0.0-rc.1"


def problems(raw: object) -> list[str]:
    """The problem lines for a manifest given as a JSON value or as JSON text/bytes."""
    data = raw if isinstance(raw, str | bytes) else json.dumps(raw)
    with pytest.raises(ManifestError) as info:
        parse_manifest(data)
    return info.value.problems


def test_platform_example_parses_with_expected_numbers():
    manifest = parse_manifest(text(EXAMPLE))

    assert manifest.name == manifest.module_id == "@plataforma/vendas-module"
    assert manifest.version == "2.1.0"
    assert manifest.license == "MIT"
    assert manifest.runtime == WasmRuntime(kind="wasm", entry="module.wasm", abi="command")
    assert manifest.security.permissions == (
        Permission(resource=Resource.DATABASE, action="read", target="vendas_schema"),
        Permission(resource=Resource.API, action="external", target="crm.example.com"),
        Permission(resource=Resource.STORAGE, action="read", target="vendas_documents"),
    )
    assert manifest.security.csp == {
        "script-src": "'self' 'unsafe-inline'",
        "connect-src": "'self' https://api.stripe.com",
    }
    limits = manifest.security.limits
    assert limits.memory == 256_000_000
    assert limits.cpu == 250
    assert limits.storage == 1_000_000_000
    assert limits.network == Rate(requests=100, period_s=60)
    assert limits.timeout == 2000
    assert manifest.health == HealthCheck(
        request=HealthRequest(method="GET", path="/", headers={}, body=""),
        expect=HealthExpect(status=200, contains=None),
    )
    assert manifest.signature == SIGNATURE
    assert manifest.author == Author(name="NXT Ecosystem", email=None, url=None, verified=True)


def test_model_dump_round_trips_permissions_as_strings():
    manifest = parse_manifest(text(EXAMPLE))
    for mode in ("python", "json"):
        dumped = manifest.model_dump(mode=mode, by_alias=True)
        assert list(dumped["security"]["permissions"]) == EXAMPLE["security"]["permissions"]
    dumped = json.loads(manifest.model_dump_json(by_alias=True))
    assert dumped["security"]["permissions"] == EXAMPLE["security"]["permissions"]
    assert dumped["$schema"] is None
    again = parse_manifest(
        text(example(**{"security.permissions": dumped["security"]["permissions"]}))
    )
    assert again.security.permissions == manifest.security.permissions


def test_minimal_manifest_takes_the_defaults():
    manifest = parse_manifest(text(MINIMAL))

    assert manifest.runtime.abi == "command"
    assert manifest.schema_ is None
    assert manifest.license is manifest.description is manifest.signature is None
    assert manifest.author is None
    assert manifest.security.permissions == ()
    assert manifest.security.csp == {}
    assert manifest.security.limits == ManifestLimits(
        memory=None, cpu=None, storage=None, network=None, timeout=None
    )
    assert manifest.health.request == HealthRequest(method="GET", path="/", headers={}, body="")
    assert manifest.health.expect == HealthExpect(status=200, contains=None)


def test_schema_key_and_reactor_abi():
    raw = {**MINIMAL, "$schema": "https://sandbench.dev/schemas/module-manifest-1.json"}
    raw["runtime"] = {"kind": "wasm", "entry": "module.wasm", "abi": "reactor"}
    manifest = parse_manifest(json.dumps(raw).encode())
    assert manifest.schema_ == "https://sandbench.dev/schemas/module-manifest-1.json"
    assert manifest.runtime.abi == "reactor"


@pytest.mark.parametrize("network", ["none", None, DELETE])
def test_network_none_null_or_missing_means_no_requests(network):
    manifest = parse_manifest(text(example(**{"security.limits.network": network})))
    assert manifest.security.limits.network is None


def test_limits_accept_their_own_values():
    rate = Rate(requests=5, period_s=1)
    assert ManifestLimits(network=rate).network == rate
    assert ManifestLimits(network=None).network is None
    assert ManifestLimits(memory=1024).memory == 1024


def test_manifest_is_frozen():
    manifest = parse_manifest(text(EXAMPLE))
    with pytest.raises(ValueError, match="frozen"):
        manifest.name = "other"  # type: ignore[misc]


def test_utf8_bytes_with_bom_parse():
    assert parse_manifest(b"\xef\xbb\xbf" + text(MINIMAL).encode()).name == "minimal"


# -- one line per problem ------------------------------------------------------------------


def test_five_independent_problems_give_five_lines():
    raw = example(
        **{
            "version": "1.0",
            "runtime.entry": "../x.wasm",
            "security.permissions": ["database:read:vendas_schema", "file:read:x"],
            "security.limits.memory": "256XB",
            "health.request.headers": {"bad name": "x"},
        }
    )
    assert problems(raw) == [
        f'version: "1.0" is invalid: {SEMVER}',
        f'runtime.entry: "../x.wasm" is invalid: {ENTRY_INSIDE}',
        "security.permissions[1]: \"file:read:x\" is invalid: unknown resource 'file'; "
        "expected one of database, api, storage",
        'security.limits.memory: "256XB" is invalid: expected a size such as 256MB, 512MiB or 1GB',
        'health.request.headers.bad name: "bad name" is invalid: expected an HTTP header name',
    ]


def test_error_text_prefixes_every_line_with_the_source():
    with pytest.raises(ManifestError) as info:
        parse_manifest(text(example(version="1.0", name="Bad")), source="mods/x/module.json")
    error = info.value
    assert isinstance(error, SandbenchError)
    assert error.exit_code == 2
    assert error.path == Path("mods/x/module.json")
    assert str(error).splitlines() == [f"mods/x/module.json: {p}" for p in error.problems]
    assert len(error.problems) == 2


@pytest.mark.parametrize(
    ("raw", "lines"),
    [
        (
            {},
            [
                "name: missing; this field is required",
                "version: missing; this field is required",
                "runtime: missing; this field is required",
            ],
        ),
        (
            example(runtime={}),
            [
                "runtime.kind: missing; this field is required",
                "runtime.entry: missing; this field is required",
            ],
        ),
        (example(author={"verified": True}), ["author.name: missing; this field is required"]),
        (
            example(nmae="x"),
            ["nmae: unexpected field; remove it or check its spelling"],
        ),
        (
            example(**{"security.limits.memroy": "1MB"}),
            ["security.limits.memroy: unexpected field; remove it or check its spelling"],
        ),
        (
            example(**{"health.request.url": "/"}),
            ["health.request.url: unexpected field; remove it or check its spelling"],
        ),
        (
            example(**{"a\nb": 1}),
            ["a\\nb: unexpected field; remove it or check its spelling"],
        ),
    ],
)
def test_missing_and_unexpected_fields(raw, lines):
    assert problems(raw) == lines


NAME = "expected a lower-case package name such as @scope/name or name"
SIGNED = "expected SHA256:<64 hex digits> (`sandbench manifest digest DIR` prints it)"


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        ({"name": "Bad_Name"}, f'name: "Bad_Name" is invalid: {NAME}'),
        ({"name": "@scope/"}, f'name: "@scope/" is invalid: {NAME}'),
        (
            {"name": "a" * 215},
            'name: "' + "a" * 56 + "... is invalid: expected at most 214 characters",
        ),
        ({"version": 1}, "version: 1 is invalid: expected a string"),
        (
            {"license": "MIT; rm -rf"},
            'license: "MIT; rm -rf" is invalid: expected an SPDX license expression such as MIT',
        ),
        (
            {"description": "x" * 4097},
            'description: "' + "x" * 56 + "... is invalid: expected at most 4096 characters",
        ),
        (
            {"runtime.kind": "docker"},
            "runtime.kind: \"docker\" is invalid: expected 'wasm' or 'container'",
        ),
        (
            {"runtime.abi": "x"},
            "runtime.abi: \"x\" is invalid: expected 'command', 'reactor' or 'component'",
        ),
        ({"runtime.entry": 5}, "runtime.entry: 5 is invalid: expected a string"),
        ({"security": []}, "security: [] is invalid: expected an object"),
        (
            {"security.permissions": "database:read:x"},
            'security.permissions: "database:read:x" is invalid: expected an array',
        ),
        (
            {"security.csp": {"Script-Src": "x"}},
            'security.csp.Script-Src: "Script-Src" is invalid: '
            "expected a CSP directive name such as connect-src",
        ),
        (
            {"security.csp": {"script-src": 1}},
            "security.csp.script-src: 1 is invalid: expected a string",
        ),
        (
            {"security.limits.cpu": "250M"},
            'security.limits.cpu: "250M" is invalid: '
            "expected a CPU quantity such as 250m, 0.5 or 2 (cores)",
        ),
        (
            {"security.limits.storage": 0},
            "security.limits.storage: 0 is invalid: "
            "expected a size such as 256MB, 512MiB or 1GB, above 0 and at most 1PiB",
        ),
        (
            {"security.limits.network": "5/s"},
            'security.limits.network: "5/s" is invalid: '
            "expected a rate such as 100req/min or 5req/s, or none",
        ),
        (
            {"security.limits.timeout": "0s"},
            'security.limits.timeout: "0s" is invalid: '
            "expected a duration such as 2s or 500ms, above 0 and at most 24h",
        ),
        (
            {"security.limits.timeout": "2 hours"},
            'security.limits.timeout: "2 hours" is invalid: expected a duration such as 2s or 500ms',
        ),
        (
            {"health.request.method": "FETCH"},
            'health.request.method: "FETCH" is invalid: '
            "expected 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE' or 'OPTIONS'",
        ),
        (
            {"health.request.path": "health"},
            'health.request.path: "health" is invalid: expected a path starting with / in printable ASCII (no spaces)',
        ),
        (
            {"health.request.path": "/a b"},
            'health.request.path: "/a b" is invalid: expected a path starting with / in printable ASCII (no spaces)',
        ),
        (
            {"health.request.headers": {"X-A": "a\nb"}},
            'health.request.headers.X-A: "a\\nb" is invalid: '
            "expected printable ASCII text without control characters",
        ),
        (
            {"health.expect.status": 999},
            "health.expect.status: 999 is invalid: expected less than or equal to 599",
        ),
        (
            {"health.expect.status": 99},
            "health.expect.status: 99 is invalid: expected greater than or equal to 100",
        ),
        (
            {"health.expect.status": 200.5},
            "health.expect.status: 200.5 is invalid: expected an integer",
        ),
        ({"signature": "SHA256:abc"}, f'signature: "SHA256:abc" is invalid: {SIGNED}'),
        (
            {"signature": "sha256:" + "0" * 64},
            'signature: "sha256:' + "0" * 49 + f"... is invalid: {SIGNED}",
        ),
        ({"author.name": ""}, 'author.name: "" is invalid: expected at least 1 character'),
        ({"author.verified": [True]}, "author.verified: [true] is invalid: expected true or false"),
        ({"author.email": "nope"}, 'author.email: "nope" is invalid: expected an e-mail address'),
        (
            {"author.url": "ftp://x.org"},
            'author.url: "ftp://x.org" is invalid: expected an http(s) URL',
        ),
    ],
)
def test_each_problem_names_path_value_and_expectation(changes, line):
    assert problems(example(**changes)) == [line]


@pytest.mark.parametrize(
    "version",
    [
        "0.0.0",
        "1.0.0",
        "2.1.0",
        "10.20.30",
        "1.0.0-rc.1+build.5",
        "1.0.0-alpha",
        "1.0.0-0.3.7",
        "1.0.0-x-y-z.--",
        "1.0.0+20130313144700",
        "1.0.0-alpha+001",
    ],
)
def test_valid_semver(version):
    assert parse_manifest(text(example(version=version))).version == version


@pytest.mark.parametrize(
    "version",
    [
        "01.0.0",
        "1.0",
        "v1.0.0",
        "1",
        "1.0.0.0",
        "1.0.0-01",
        "1.0.0-",
        "1.0.0+",
        " 1.0.0",
        "1.0.0 ",
        "1.2.3-beta..1",
        "",
        "1.0.0-rc.1+build..5",
    ],
)
def test_invalid_semver(version):
    assert problems(example(version=version)) == [
        f"version: {json.dumps(version)} is invalid: {SEMVER}"
    ]


@pytest.mark.parametrize(
    ("entry", "normalized"),
    [
        ("module.wasm", "module.wasm"),
        ("module.wat", "module.wat"),
        ("sub/m.wat", "sub/m.wat"),
        ("./module.wasm", "module.wasm"),
        ("a//b/./m.wasm", "a/b/m.wasm"),
        ("..module.wasm", "..module.wasm"),
    ],
)
def test_valid_entry_paths(entry, normalized):
    assert parse_manifest(text(example(**{"runtime.entry": entry}))).runtime.entry == normalized


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("../x.wasm", ENTRY_INSIDE),
        ("sub/../../x.wasm", ENTRY_INSIDE),
        ("sub/../x.wasm", ENTRY_INSIDE),
        ("/abs.wasm", ENTRY_INSIDE),
        ("a\\b.wasm", ENTRY_INSIDE),
        ("", ENTRY_INSIDE),
        (".", ENTRY_INSIDE),
        ("x.txt", "expected a .wasm or .wat file"),
        ("module", "expected a .wasm or .wat file"),
        ("module.WASM", "expected a .wasm or .wat file"),
        ("sub/", "expected a .wasm or .wat file"),
    ],
)
def test_invalid_entry_paths(entry, message):
    assert problems(example(**{"runtime.entry": entry})) == [
        f"runtime.entry: {json.dumps(entry)} is invalid: {message}"
    ]


@pytest.mark.parametrize(
    "permissions",
    [
        ["database:read:x", "database:read:x"],
        ["database:read:x", "storage:read:y", "database:read:x"],
        # Host names are case-insensitive, so these two are the same permission.
        ["api:external:CRM.example.com", "api:external:crm.example.com"],
    ],
)
def test_duplicate_permissions(permissions):
    (line,) = problems(example(**{"security.permissions": permissions}))
    duplicate = permissions[-1].lower()
    assert line.startswith("security.permissions: [")
    assert line.endswith(f" is invalid: duplicate permission '{duplicate}'")


def test_same_target_with_other_action_is_not_a_duplicate():
    raw = example(**{"security.permissions": ["database:read:x", "database:write:x"]})
    assert len(parse_manifest(text(raw)).security.permissions) == 2


def test_long_values_are_cut_to_sixty_characters():
    (line,) = problems(example(name="X" * 100))
    assert line == 'name: "' + "X" * 56 + f"... is invalid: {NAME}"


@pytest.mark.parametrize(
    ("key", "in_path", "in_value"),
    [
        # The value is shown as JSON (which escapes C0 controls as \n or \u001b); whatever
        # JSON leaves raw but is not printable (U+2028, U+0085) is escaped as in Python.
        ("a\nb", "a\\nb", '"a\\nb"'),
        ("a\rb", "a\\rb", '"a\\rb"'),
        ("a\u2028b", "a\\u2028b", '"a\\u2028b"'),
        ("a\x85b", "a\\x85b", '"a\\x85b"'),
        ("\x1b[31mred", "\\x1b[31mred", '"\\u001b[31mred"'),
    ],
)
def test_non_printable_keys_and_values_are_escaped(key, in_path, in_value):
    (line,) = problems(example(**{"security.csp": {key: "x"}}))
    assert line == (
        f"security.csp.{in_path}: {in_value} is invalid: "
        "expected a CSP directive name such as connect-src"
    )
    assert line.isprintable()


# -- JSON-level problems -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ('{"name": "x",\n  "version": }', "not valid JSON: Expecting value at line 2, column 14"),
        (
            "{",
            "not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2",
        ),
        ("[1", "not valid JSON: Expecting ',' delimiter at line 1, column 3"),
        ("", "not valid JSON: Expecting value at line 1, column 1"),
        ("{} {}", "not valid JSON: Extra data at line 1, column 4"),
        (
            "\ufeff{}",
            "not valid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig) at line 1, column 1",
        ),
        (
            '{"name": "a", "name": "b"}',
            "not valid JSON: duplicate key 'name'; each key may appear once",
        ),
        (
            '{"runtime": {"kind": "wasm", "kind": "wasm"}}',
            "not valid JSON: duplicate key 'kind'; each key may appear once",
        ),
        (
            b"\xff",
            "not valid JSON: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
        ),
        ("[]", "expected a JSON object at the top level"),
        ('[{"name": "x"}]', "expected a JSON object at the top level"),
        ("null", "expected a JSON object at the top level"),
        ("1", "expected a JSON object at the top level"),
        ('"module"', "expected a JSON object at the top level"),
        ("NaN", "expected a JSON object at the top level"),
    ],
)
def test_json_problems(data, line):
    assert problems(data) == [line]


def test_deep_nesting_is_one_problem():
    (line,) = problems("[" * 100_000 + "]" * 100_000)
    assert line.startswith("not valid JSON: maximum recursion depth exceeded")
    nested = "[" * 500 + "]" * 500
    (line,) = problems(text(MINIMAL)[:-1] + f', "description": {nested}}}')
    assert line == "description: " + "[" * 57 + "... is invalid: expected a string"


def test_nesting_near_the_recursion_limit_is_one_clean_problem():
    # Around this depth json.loads still succeeds but json.dumps (showing the value) may not.
    head = text(MINIMAL)[:-1] + ', "description": '
    for depth in range(900, 1001):
        (line,) = problems(head + "[" * depth + "]" * depth + "}")
        assert line.isprintable()
        assert line.startswith(("description: ", "not valid JSON: maximum recursion depth"))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        # `$` in a pattern matches before a final newline: every pattern is matched whole
        ({"name": "vendas\n"}, "name"),
        ({"version": "2.1.0\n"}, "version"),
        ({"security.permissions": ["storage:read:docs\n"]}, "security.permissions[0]"),
        ({"security.permissions": ["api:external:a.com\n"]}, "security.permissions[0]"),
        ({"license": "MIT\n"}, "license"),
        # what goes on the wire must be what http.client and a CGI environment can carry
        ({"health.request.headers": {"X-A": "\u20ac"}}, "health.request.headers.X-A"),
        ({"health.request.path": "/caf\u00e9"}, "health.request.path"),
        ({"health.request.path": "/\x00"}, "health.request.path"),
        # what reaches the file system must be a name the file system takes
        ({"runtime.entry": "a\x00.wasm"}, "runtime.entry"),
        ({"runtime.entry": "\u0085.wasm"}, "runtime.entry"),
        ({"runtime.entry": "a" * 300 + ".wasm"}, "runtime.entry"),
        ({"runtime.entry": "d/" * 600 + "m.wasm"}, "runtime.entry"),
    ],
)
def test_strings_that_would_break_later_are_refused_naming_the_field(changes, field):
    [line] = problems(example(**changes))
    assert line.startswith(f"{field}: "), line
