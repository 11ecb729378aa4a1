"""Python components (`abi: component`) on the real WASM backend: the pricing example, every
hostile Python module, storage grants, the environment, the host API through the world's
imports, the output cap, the compile cache and broken artifacts.

The components are built once per session (`components`, tests/components/builds.py) and
compiled once into the session's cache; only one test here compiles afresh.
"""

from __future__ import annotations

import json
import select
import shutil
import socket
import time
from pathlib import Path

import psutil
import pytest
import wasmtime

from sandbench.components import build
from sandbench.errors import BuildError, ManifestError
from sandbench.manifests import load
from sandbench.runtime import limits_for
from sandbench.sandbox import Grants, Request, SandboxLimits, ViolationKind
from tests.components.builds import HOSTILE
from tests.conftest import EXAMPLES

CEILINGS = SandboxLimits(storage_bytes=10**9)


def loaded(backend, folder: Path, grants: Grants | None = None, **limits):
    """An instance of the module at `folder` under its manifest's limits (and `limits`)."""
    package = load(folder)
    applied = limits_for(package.manifest, SandboxLimits(), CEILINGS).limits
    result = backend.load(package, applied.model_copy(update=limits), grants or Grants())
    assert result.violation is None, result.violation
    return result.instance


@pytest.fixture
def buckets(tmp_path):
    """The probe's buckets: `docs` (granted read-only, holds a.txt) and `notes` (read-write)."""
    docs, notes = tmp_path / "docs", tmp_path / "notes"
    docs.mkdir()
    notes.mkdir()
    (docs / "a.txt").write_text("hello docs")
    return Grants(storage_read={"docs": docs}, storage_write={"notes": notes})


def get(path: str, query: str = "", **fields) -> Request:
    return Request(path=path, query=query, **fields)


def post(path: str, body: bytes, query: str = "") -> Request:
    return Request(method="POST", path=path, query=query, body=body)


# pricing-py


ORDER = {
    "items": [
        {"sku": "A-1", "qty": 2, "unit_price": "19.90"},
        {"sku": "BC-22", "qty": 3, "unit_price": "5.05"},
    ],
    "customer": {"tier": "gold"},
    "coupon": "WELCOME10",
}


def test_pricing_quotes_in_exact_decimals(backend, components):
    with loaded(backend, components["pricing-py"]) as instance:
        outcome = instance.invoke(post("/quote", json.dumps(ORDER).encode()))
    assert outcome.ok, outcome.violation
    assert outcome.response.status == 200
    assert ("content-type", "application/json") in outcome.response.headers
    quote = json.loads(outcome.response.body)
    assert [line["total"] for line in quote["lines"]] == ["39.80", "15.15"]
    # 10 % of 54.95 is 5.495: half-even rounding to the cent gives 5.50; tax 21 % of 39.45
    assert (quote["subtotal"], quote["discount"], quote["coupon"]) == ("54.95", "5.50", "10.00")
    assert (quote["tax"], quote["total"]) == ("8.28", "47.73")
    assert [(line.level, line.message) for line in outcome.host.logs] == [
        ("debug", "quoted 2 line(s), total 47.73")
    ]


@pytest.mark.parametrize(
    ("request_", "status", "error"),
    [
        (get("/nowhere"), 404, "no route /nowhere"),
        (get("/quote"), 405, "use POST"),
        (post("/quote", b"{not json"), 400, "body: not JSON"),
        (
            post("/quote", json.dumps({"items": [{"sku": "bad", "qty": 1}]}).encode()),
            422,
            "items[0].sku: expected a SKU such as A-1",
        ),
        (
            post("/quote", json.dumps({**ORDER, "coupon": "FREE100"}).encode()),
            422,
            "coupon: unknown coupon 'FREE100'",
        ),
    ],
    ids=["404", "405", "400", "422-sku", "422-coupon"],
)
def test_pricing_refuses_bad_requests_with_a_status_and_the_field(
    backend, components, request_, status, error
):
    with loaded(backend, components["pricing-py"]) as instance:
        outcome = instance.invoke(request_)
    assert outcome.ok, outcome.violation
    assert outcome.response.status == status
    assert json.loads(outcome.response.body)["error"].startswith(error)


# The hostile Python modules: each gets its violation, then a new instance answers.

EXPECTED = {
    "py-infinite-loop": {ViolationKind.CPU, ViolationKind.TIMEOUT},
    "py-memory-bomb": {ViolationKind.MEMORY},
    "py-read-outside": {ViolationKind.STORAGE},
    "py-socket": {ViolationKind.NETWORK_DENIED},
    "py-subprocess": {ViolationKind.PROCESS},
}


def test_every_hostile_python_example_is_covered():
    assert set(EXPECTED) == set(HOSTILE)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_module_gets_its_violation_and_the_next_call_a_new_instance(
    backend, components, tmp_path, name
):
    grants = Grants()
    if name == "py-read-outside":  # its manifest's one permission: storage:read:docs
        (tmp_path / "docs").mkdir()
        grants = Grants(storage_read={"docs": tmp_path / "docs"})
    with loaded(backend, components[name], grants) as instance:
        hostile = instance.invoke(get("/"))
        # A call stopped at its CPU or time limit can leave the module's one CPU share in
        # debt (docs/abi.md); wait until it is paid, or the next call is refused for it.
        paid_by = time.monotonic() + 120
        while instance.cpu.share.level < 0 and time.monotonic() < paid_by:
            time.sleep(0.05)
        after = instance.invoke(get("/ok"))
        again = instance.invoke(get("/ok"))
    assert hostile.response is None
    assert hostile.violation.kind in EXPECTED[name], hostile.violation
    assert hostile.violation.phase == "invoke"
    # The instance that broke a limit is dropped: the next call instantiates a new one,
    # which answers and is then kept.
    assert after.ok, after.violation
    assert (after.response.status, after.response.body) == (200, b"still here")
    assert after.usage.instantiate_ms > 0
    assert again.ok
    assert again.usage.instantiate_ms == 0


def test_an_exception_points_at_the_module_s_own_line_and_keeps_the_chain(backend, components):
    with loaded(backend, components["probe"]) as instance:
        outcome = instance.invoke(get("/raise"))
    violation = outcome.violation
    assert violation.kind == ViolationKind.TRAP
    # json's decoder.py raised it; the place shown is the probe's line that called json.loads.
    assert violation.message.startswith("the handler raised: JSONDecodeError: ")
    assert violation.message.endswith("(app.py, line 67, in _decode)"), violation.message
    assert "\n" not in violation.message
    chain = violation.detail.splitlines()
    assert chain[0] == "Traceback (most recent call last):"
    assert "app.py, line 95, in handle" in violation.detail
    assert chain[-1].strip().startswith("decoder.py, line "), chain


def test_the_wall_clock_deadline_stops_a_component_that_has_fuel_left(backend, components):
    # 8 cores' worth of fuel for 200 ms is more than the loop burns in 200 ms: the epoch
    # deadline, not the fuel, has to stop it (limits given directly, past the ceilings).
    package = load(components["py-infinite-loop"])
    limits = SandboxLimits(cpu_millicores=8000, timeout_ms=200, memory_bytes=64_000_000)
    with backend.load(package, limits, Grants()).instance as instance:
        stopped = instance.invoke(get("/"))
        after = instance.invoke(get("/ok"))
    assert stopped.violation.kind is ViolationKind.TIMEOUT
    assert "still running after limits.timeout (200 ms)" in stopped.violation.message
    assert after.ok


def test_a_memory_limit_below_the_component_s_own_memory_fails_instantiation(backend, components):
    # A Python component starts with about 13 MiB of linear memory (16 MiB instantiates).
    result = backend.load(
        load(components["pricing-py"]), SandboxLimits(memory_bytes=8 * 1024 * 1024), Grants()
    )
    assert result.instance is None
    assert (result.violation.kind, result.violation.phase) == (ViolationKind.MEMORY, "instantiate")
    assert "exceeds memory limits" in result.violation.message


def test_read_outside_is_denied_every_way_although_the_module_catches_the_errors(
    backend, components, tmp_path
):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("granted")
    with loaded(backend, components["py-read-outside"], Grants(storage_read={"docs": docs})) as i:
        outcome = i.invoke(get("/"))
    assert outcome.violation.kind is ViolationKind.STORAGE
    assert "opened /etc/passwd, outside /storage" in outcome.violation.message
    lines = [line.message for line in outcome.host.logs]
    assert len(lines) == 4
    assert all(": denied (" in line for line in lines), lines
    assert lines[3].startswith("write /storage/docs/pwned.txt: denied (PermissionError")
    assert not any("LEAKED" in line or "root:" in line for line in lines)
    assert sorted(p.name for p in docs.iterdir()) == ["a.txt"]


def test_socket_module_reaches_nothing(backend, components):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        with loaded(backend, components["py-socket"]) as instance:
            outcome = instance.invoke(get("/", f"port={port}"))
        readable, _, _ = select.select([listener], [], [], 0.2)
    assert outcome.violation.kind is ViolationKind.NETWORK_DENIED
    assert "imported socket" in outcome.violation.message
    assert readable == []  # no connection attempt arrived


def test_subprocess_module_starts_no_process(backend, components):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with loaded(backend, components["py-subprocess"]) as instance:
        outcome = instance.invoke(get("/"))
    after = {p.pid for p in psutil.Process().children(recursive=True)}
    assert outcome.violation.kind is ViolationKind.PROCESS
    assert "imported subprocess" in outcome.violation.message
    assert after <= before


# What the module sees: storage grants, nothing else, no environment.


def test_storage_grants_read_only_read_write_and_nothing_outside(backend, components, buckets):
    docs, notes = buckets.storage_read["docs"], buckets.storage_write["notes"]
    with loaded(backend, components["probe"], buckets) as instance:
        read = instance.invoke(get("/file", "path=/storage/docs/a.txt"))
        read_only = instance.invoke(post("/file", b"x", "path=/storage/docs/new.txt"))
        write = instance.invoke(post("/file", b"a note", "path=/storage/notes/n.txt"))
        root = instance.invoke(get("/listdir", "path=/"))
        up = instance.invoke(get("/listdir", "path=/storage/docs/.."))
        across = instance.invoke(get("/file", "path=/storage/docs/../notes/n.txt"))
        outside = instance.invoke(get("/file", "path=/etc/hostname"))
    assert (read.response.status, read.response.body) == (200, b"hello docs")
    # Refused by WASI (a read-only preopen) and reported, although the probe catches it.
    assert read_only.violation.kind is ViolationKind.STORAGE
    assert "/storage/docs is read-only (storage:read:docs)" in read_only.violation.message
    assert sorted(p.name for p in docs.iterdir()) == ["a.txt"]
    assert write.response.status == 200
    assert (notes / "n.txt").read_bytes() == b"a note"
    for refused in (root, up, across):
        assert refused.ok, refused.violation
        assert refused.response.status == 403, refused.response.body
    assert outside.violation.kind is ViolationKind.STORAGE


def test_without_grants_no_bucket_is_there(backend, components):
    with loaded(backend, components["probe"]) as instance:
        outcome = instance.invoke(get("/listdir", "path=/storage/docs"))
    assert outcome.response.status == 403
    assert b"No such file or directory" in outcome.response.body


def test_no_environment_variable_reaches_the_module(backend, components, monkeypatch):
    monkeypatch.setenv("PROBE_SECRET", "s3cret")
    with loaded(backend, components["probe"]) as instance:
        outcome = instance.invoke(get("/env"))
    assert json.loads(outcome.response.body) == {"environ": {}, "secret": None}


# The host API through the world's imports.


def test_log_lines_and_prints_reach_the_outcome(backend, components):
    with loaded(backend, components["probe"]) as instance:
        outcome = instance.invoke(get("/log"))
    assert outcome.ok, outcome.violation
    assert [(line.level, line.message) for line in outcome.host.logs] == [
        ("info", "probe info line"),
        ("warn", "probe warn line"),
        ("info", "printed to stdout"),
        ("warn", "printed to stderr"),
    ]


def test_host_storage_follows_the_permissions_and_records_denials(backend, components, buckets):
    notes = buckets.storage_write["notes"]
    calls = [
        post("/host/write", b"hello", "bucket=notes&key=a/b.txt"),
        get("/host/read", "bucket=notes&key=a/b.txt"),
        get("/host/read", "bucket=docs&key=a.txt"),
        get("/host/list", "bucket=notes"),
        post("/host/write", b"nope", "bucket=docs&key=x.txt"),
        get("/host/read", "bucket=other&key=x"),
    ]
    with loaded(backend, components["probe"], buckets) as instance:
        outcomes = [instance.invoke(call) for call in calls]
    answers = [(o.response.status, o.response.body) for o in outcomes]
    assert answers == [
        (200, b"5"),
        (200, b"hello"),
        (200, b"hello docs"),
        (200, b'["a/"]'),
        (403, b"denied"),
        (403, b"denied"),
    ]
    assert (notes / "a" / "b.txt").read_bytes() == b"hello"
    assert not (buckets.storage_read["docs"] / "x.txt").exists()
    recorded = [(c.action, c.target, c.code) for o in outcomes for c in o.host.calls]
    assert recorded[-2:] == [("write", "docs/x.txt", "denied"), ("read", "other/x", "denied")]
    assert [len(o.host.denied) for o in outcomes] == [0, 0, 0, 0, 1, 1]


def test_host_storage_without_permission_is_denied(backend, components):
    # The manifest grants docs and notes, but no folder is given for them here.
    with loaded(backend, components["probe"]) as instance:
        outcome = instance.invoke(get("/host/read", "bucket=docs&key=a.txt"))
    assert (outcome.response.status, outcome.response.body) == (403, b"denied")
    assert [(c.capability, c.code) for c in outcome.host.denied] == [("storage", "denied")]


def test_http_fetch_without_permission_is_denied_and_sends_nothing(backend, components):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        with loaded(backend, components["probe"]) as instance:
            outcome = instance.invoke(get("/fetch", f"url={url}"))
        readable, _, _ = select.select([listener], [], [], 0.2)
    assert (outcome.response.status, outcome.response.body) == (403, b"denied")
    assert [(c.capability, c.target, c.code) for c in outcome.host.calls] == [
        ("http", "127.0.0.1", "denied")
    ]
    assert readable == []


# Bodies, the output cap.


def test_binary_bodies_cross_byte_for_byte(backend, components):
    body = bytes(range(256)) * 4096  # 1 MiB, every byte value
    with loaded(backend, components["probe"], output_bytes=2 * len(body)) as instance:
        outcome = instance.invoke(post("/echo", body))
    assert outcome.ok, outcome.violation
    assert outcome.response.body == body
    assert outcome.usage.output_bytes == len(body)


def test_a_body_over_the_output_cap_is_an_output_violation(backend, components):
    with loaded(backend, components["probe"], output_bytes=1000) as instance:
        small = instance.invoke(get("/big", "size=1000"))
        big = instance.invoke(get("/big", "size=1001"))
        after = instance.invoke(get("/"))
    assert small.ok
    assert len(small.response.body) == 1000
    assert big.violation.kind is ViolationKind.OUTPUT
    assert "1,001 bytes, over the 1,000-byte output cap" in big.violation.message
    assert after.ok
    assert after.usage.instantiate_ms > 0


# The compile cache and broken artifacts.


def test_a_second_load_is_a_cache_hit_and_fresh_recompiles(backend, components, cache_dir):
    folder = components["py-subprocess"]
    package = load(folder)
    key = backend.cache_key((folder / "module.wasm").read_bytes(), kind="component")
    backend.load(package, SandboxLimits(), Grants()).instance.close()  # compiled at most once
    warm = backend.load(package, SandboxLimits(), Grants())
    warm.instance.close()
    assert warm.cache_hit
    assert (cache_dir / "wasm" / f"{key}.cwasm").is_file()
    cold = backend.load(package, SandboxLimits(), Grants(), fresh=True)
    with cold.instance as instance:
        assert instance.invoke(get("/ok")).ok
    assert not cold.cache_hit
    assert cold.compile_ms > warm.compile_ms


def broken(tmp_path: Path, components, wasm: bytes) -> Path:
    folder = tmp_path / "broken"
    shutil.copytree(components["py-socket"], folder, ignore=shutil.ignore_patterns("*.wasm"))
    (folder / "module.wasm").write_bytes(wasm)
    return folder


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("garbage", "not a valid component (expected `(`); rebuild it with `sandbench build`"),
        ("truncated", "not a valid component (failed to parse WebAssembly module)"),
        ("core", "it is a core WebAssembly module, not a component: set runtime.abi to command"),
    ],
)
def test_a_broken_component_is_an_invalid_module_with_a_hint(
    backend, components, tmp_path, what, message
):
    wasm = {
        "garbage": b"this is not wasm",
        "truncated": (components["py-socket"] / "module.wasm").read_bytes()[:65536],
        "core": (EXAMPLES / "vendas-reactor" / "module.wasm").read_bytes(),
    }[what]
    result = backend.load(load(broken(tmp_path, components, wasm)), SandboxLimits(), Grants())
    assert result.instance is None
    assert result.violation.kind is ViolationKind.INVALID_MODULE
    assert result.violation.phase == "load"
    assert result.violation.message.startswith(message)


def test_a_top_level_that_raises_fails_the_build_not_the_load(tmp_path, cache_dir):
    folder = tmp_path / "raises"
    shutil.copytree(EXAMPLES / "pricing-py", folder, ignore=shutil.ignore_patterns("*.wasm"))
    # A helper module of the folder that fails when imported: the build runs it.
    (folder / "rates.py").write_text("import json\n\nRATES = json.loads('{\"EUR\": }')\n")
    app = (folder / "app.py").read_text()
    (folder / "app.py").write_text(app.replace("import json\n", "import json\n\nimport rates\n", 1))
    with pytest.raises(BuildError) as caught:
        build(folder, cache_dir=cache_dir)
    (problem,) = caught.value.problems
    assert problem.startswith(
        "running the module's top level while building raised JSONDecodeError"
    )
    assert "(rates.py, line 3)" in problem
    with pytest.raises(ManifestError, match="run `sandbench build"):
        load(folder)  # nothing was written: there is nothing to load


def wat_component(folder: Path, wat: str) -> Path:
    """A module folder holding a hand-written component (text format) as its entry."""
    (folder / "module.wasm").write_bytes(bytes(wasmtime.wat2wasm(wat)))
    manifest = {
        "name": "@tests/hand-written",
        "version": "1.0.0",
        "runtime": {"kind": "wasm", "abi": "component", "entry": "module.wasm"},
        "security": {"permissions": []},
    }
    (folder / "module.json").write_text(json.dumps(manifest))
    return folder


HANDLE_U32 = """
  (core module $m (func (export "f") (result i32) i32.const 7))
  (core instance $i (instantiate $m))
  (func $h (result u32) (canon lift (core func $i "f")))
  (export "handle" (func $h))
"""


@pytest.mark.parametrize(
    ("interface", "phase"),
    [("wasi:http/outgoing-handler@0.2.0", "load"), ("wasi:io/poll@0.2.0", "instantiate")],
)
def test_an_import_the_linker_lacks_is_an_unknown_import(backend, tmp_path, interface, phase):
    # wasi:http is not part of the WASI 0.2 the linker provides; a provided interface
    # without the function asked for fails when linked.
    wat = f'(component (import "{interface}" (instance (export "nope" (func)))) {HANDLE_U32})'
    result = backend.load(load(wat_component(tmp_path, wat)), SandboxLimits(), Grants())
    assert result.instance is None
    assert (result.violation.kind, result.violation.phase) == (
        ViolationKind.UNKNOWN_IMPORT,
        phase,
    )
    assert interface in result.violation.message


def test_a_handle_of_another_type_is_a_protocol_violation_not_an_exception(backend, tmp_path):
    # A hand-written component whose `handle` takes nothing and returns a u32.
    wat_component(tmp_path, f"(component {HANDLE_U32})")
    with backend.load(load(tmp_path), SandboxLimits(), Grants()).instance as instance:
        outcome = instance.invoke(get("/"))
    assert outcome.violation.kind is ViolationKind.PROTOCOL
    assert "does not have the type of the world sandbench:platform/module" in (
        outcome.violation.message
    )
