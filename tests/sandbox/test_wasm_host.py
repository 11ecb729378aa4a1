"""The sandbench:host/v1 imports on real wasmtime: the ABI, per-call state and recording."""

from __future__ import annotations

import threading

import pytest

from sandbench.hostapi import Code, HostSettings, HttpSettings
from sandbench.manifests import load
from sandbench.sandbox import Grants, Request, SandboxLimits, ViolationKind
from sandbench.sandbox.wasm.host import FUNCTIONS, NAMESPACE
from tests.hostapi.server import serve

from . import wat

LIMITS = SandboxLimits(memory_bytes=16 * 1024 * 1024, timeout_ms=2000)


def imports(*names):
    return "\n".join(
        f'(import "{NAMESPACE}" "{n}" (func ${n} (param {" i32" * FUNCTIONS[n][0]}) (result i32)))'
        for n in names
    )


def returns(expr):
    """A command module that answers `Status: 200` with the i32 `expr` as 4 raw bytes."""
    body = f"""
    (i32.store (i32.const 32) {expr})
    (i32.store (i32.const 16) (i32.const 1024))
    (drop (call $write (i32.const 1) (i32.const 1024) (i32.const 13)))
    (drop (call $write (i32.const 1) (i32.const 32) (i32.const 4)))"""
    return body


def module_with(names, expr, strings):
    """A command module importing host functions `names`; `strings` go at 128, 256, ... (128 bytes each)"""
    data = "\n".join(
        f'(data (i32.const {128 * (i + 1)}) "{wat.wat_bytes(s)}")' for i, s in enumerate(strings)
    )
    extra = data + '\n(data (i32.const 1024) "Status: 200\\n\\n")'
    return wat.command(returns(expr), imports=imports(*names), extra=extra)


def ref(index, strings):
    return f"(i32.const {128 * (index + 1)}) (i32.const {len(strings[index])})"


def result_of(outcome):
    assert outcome.ok, outcome.violation
    return int.from_bytes(outcome.response.body, "little", signed=True)


def call(backend, make_module, source, *, permissions=(), grants=None, limits=None, times=1):
    package = load(make_module(source, permissions=list(permissions), limits=limits))
    loaded = backend.load(package, LIMITS, grants or Grants())
    assert loaded.violation is None, loaded.violation
    with loaded.instance as instance:
        return [instance.invoke(Request()) for _ in range(times)], loaded


def test_namespace_is_provided_and_listed(backend, make_module):
    strings = [b"hi"]
    source = module_with(["log"], f"(call $log (i32.const 1) {ref(0, strings)})", strings)
    (outcome,), loaded = call(backend, make_module, source)
    assert loaded.dependencies[NAMESPACE] is True
    assert f"{NAMESPACE}::log" in loaded.imports
    assert result_of(outcome) == 0
    (line,) = outcome.host.logs
    assert (line.level, line.message) == ("info", "hi")


def test_unknown_function_in_the_namespace_is_an_unknown_import(backend, make_module):
    source = f'(module (import "{NAMESPACE}" "exec" (func (param i32) (result i32)))\n'
    source += '(memory (export "memory") 1) (func (export "_start")))'
    loaded = backend.load(load(make_module(source)), LIMITS, Grants())
    assert loaded.violation.kind is ViolationKind.UNKNOWN_IMPORT
    assert "exec" in loaded.violation.message


def test_storage_round_trip_through_linear_memory(backend, make_module, tmp_path):
    bucket = tmp_path / "notes"
    bucket.mkdir()
    strings = [b"notes", b"a/b.txt", b"payload", b"notes"]
    write = f"(call $storage_write {ref(0, strings)} {ref(1, strings)} {ref(2, strings)})"
    read = (
        f"(call $storage_read {ref(3, strings)} {ref(1, strings)} (i32.const 4096) (i32.const 64))"
    )
    source = module_with(["storage_write", "storage_read"], f"(i32.add {write} {read})", strings)
    grants = Grants(storage_write={"notes": bucket})
    (outcome,), _ = call(
        backend, make_module, source, permissions=["storage:write:notes"], grants=grants
    )
    assert result_of(outcome) == 7 + 7  # bytes written + bytes read back
    assert (bucket / "a" / "b.txt").read_bytes() == b"payload"
    assert [(c.action, c.target, c.code) for c in outcome.host.calls] == [
        ("write", "notes/a/b.txt", "ok"),
        ("read", "notes/a/b.txt", "ok"),
    ]


def test_every_capability_without_permission_is_denied_inside_the_module(backend, make_module):
    strings = [b"GET http://crm.example.com/\n\n", b"docs", b"x", b"vendas", b"SELECT 1"]
    calls = [
        f"(call $http_fetch {ref(0, strings)} (i32.const 4096) (i32.const 64))",
        f"(call $storage_read {ref(1, strings)} {ref(2, strings)} (i32.const 4096) (i32.const 64))",
        f"(call $storage_write {ref(1, strings)} {ref(2, strings)} {ref(2, strings)})",
        f"(call $storage_list {ref(1, strings)} {ref(2, strings)} (i32.const 4096) (i32.const 64))",
        f"(call $db_query {ref(3, strings)} {ref(4, strings)} {ref(2, strings)} (i32.const 4096) (i32.const 64))",
        f"(call $db_execute {ref(3, strings)} {ref(4, strings)} {ref(2, strings)} (i32.const 4096) (i32.const 64))",
    ]
    total = calls[0]
    for more in calls[1:]:
        total = f"(i32.add {total} {more})"
    names = [
        "http_fetch",
        "storage_read",
        "storage_write",
        "storage_list",
        "db_query",
        "db_execute",
    ]
    (outcome,), _ = call(backend, make_module, module_with(names, total, strings))
    assert result_of(outcome) == 6 * Code.DENIED
    denied = outcome.host.denied
    assert [(d.capability, d.target) for d in denied] == [
        ("http", "crm.example.com"),
        ("storage", "docs/x"),
        ("storage", "docs/x"),
        ("storage", "docs/x"),
        ("database", "vendas"),
        ("database", "vendas"),
    ]
    assert all(d.code == "denied" and d.at is not None for d in denied)


@pytest.mark.parametrize(
    "args",
    [
        "(i32.const 1) (i32.const 65530) (i32.const 100)",  # past the end of memory
        "(i32.const 1) (i32.const -8) (i32.const 4)",  # a "negative" pointer is 4 GiB away
        "(i32.const 1) (i32.const 0) (i32.const -1)",
    ],
)
def test_pointers_outside_memory_are_bad_arguments_not_traps(backend, make_module, args):
    (outcome,), _ = call(backend, make_module, module_with(["log"], f"(call $log {args})", []))
    assert result_of(outcome) == Code.BAD_ARGUMENT


def test_out_buffer_too_small_discards_the_result(backend, make_module, tmp_path):
    bucket = tmp_path / "docs"
    bucket.mkdir()
    (bucket / "big.txt").write_bytes(b"0123456789")
    strings = [b"docs", b""]
    source = module_with(
        ["storage_list"],
        f"(call $storage_list {ref(0, strings)} {ref(1, strings)} (i32.const 4096) (i32.const 4))",
        strings,
    )
    grants = Grants(storage_read={"docs": bucket})
    (outcome,), _ = call(
        backend, make_module, source, permissions=["storage:read:docs"], grants=grants
    )
    assert result_of(outcome) == Code.TOO_LARGE


def test_http_through_wasm_to_a_loopback_server_with_rate_limit(backend, make_module):
    strings = [b"GET http://crm.example.com/hello\n\n"]
    source = module_with(
        ["http_fetch"],
        f"(call $http_fetch {ref(0, strings)} (i32.const 4096) (i32.const 2048))",
        strings,
    )
    limits = {"memory": "16MiB", "cpu": "1", "timeout": "2s", "network": "2req/min"}
    with serve() as address:
        grants = Grants(host=HostSettings(http=HttpSettings(resolve={"crm.example.com": address})))
        package = load(
            make_module(source, permissions=["api:external:crm.example.com"], limits=limits)
        )
        limits_obj = LIMITS.model_copy(update={"network": package.manifest.security.limits.network})
        loaded = backend.load(package, limits_obj, grants)
        with loaded.instance as instance:
            outcomes = [instance.invoke(Request()) for _ in range(3)]
    assert [result_of(o) > 0 for o in outcomes] == [True, True, False]
    assert result_of(outcomes[2]) == Code.RATE
    assert [c.code for o in outcomes for c in o.host.calls] == ["ok", "ok", "rate"]


def test_reactor_instances_keep_their_own_grants_across_threads(backend, make_module, tmp_path):
    """Two instances with different buckets, called concurrently: each sees only its own."""
    strings = [b"mine", b"f.txt"]
    read = (
        f"(call $storage_read {ref(0, strings)} {ref(1, strings)} (i32.const 4096) (i32.const 64))"
    )
    source = module_with(["storage_read"], read, strings)
    results = {}

    def run(name, grants, permissions):
        package = load(make_module(source, permissions=permissions))
        loaded = backend.load(package, LIMITS, grants)
        with loaded.instance as instance:
            results[name] = [result_of(instance.invoke(Request())) for _ in range(20)]

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "f.txt").write_bytes(b"12345")
    threads = [
        threading.Thread(
            target=run, args=("granted", Grants(storage_read={"mine": mine}), ["storage:read:mine"])
        ),
        threading.Thread(target=run, args=("none", Grants(), [])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {"granted": [5] * 20, "none": [Code.DENIED] * 20}


def test_database_through_wasm_on_sqlite(backend, make_module, tmp_path):
    strings = [b"vendas", b"SELECT ? + 1 AS n", b"[41]"]
    query = f"(call $db_query {ref(0, strings)} {ref(1, strings)} {ref(2, strings)} (i32.const 4096) (i32.const 256))"
    grants = Grants(host=HostSettings(database_dir=tmp_path))
    (outcome,), _ = call(
        backend,
        make_module,
        module_with(["db_query"], query, strings),
        permissions=["database:read:vendas"],
        grants=grants,
    )
    assert result_of(outcome) == len(b'{"columns": ["n"], "rows": [[42]]}')
    assert (tmp_path / "vendas.sqlite3").exists()


def test_a_limit_refusal_degrades_and_a_missing_permission_is_critical(backend, make_module):
    from sandbench import check
    from sandbench.reports import Status

    strings = [b"notes", b"big.bin", b"docs"]
    write = f"(call $storage_write {ref(0, strings)} {ref(1, strings)} (i32.const 2048) (i32.const 2048))"
    over_quota = module_with(["storage_write"], write, strings)
    limits = {"memory": "16MiB", "cpu": "1", "timeout": "1s", "storage": "1KB"}
    root = make_module(over_quota, permissions=["storage:write:notes"], limits=limits)
    report = check(root, backend=backend, calls=2, warm_runs=1)
    assert report.status is Status.DEGRADED
    assert "host-denials" in report.reasons
    (denied,) = report.host_api.denied
    assert (denied.code, denied.target, denied.count) == ("quota", "notes/big.bin", 2)

    other_bucket = (
        f"(call $storage_write {ref(2, strings)} {ref(1, strings)} (i32.const 2048) (i32.const 8))"
    )
    root = make_module(
        module_with(["storage_write"], other_bucket, strings), permissions=["storage:write:notes"]
    )
    report = check(root, backend=backend, calls=2, warm_runs=1)
    assert report.status is Status.CRITICAL
    assert report.reasons == ["host-denials"]
    unused = [f.message for f in report.findings if f.rule_id == "unused-permission"]
    assert len(unused) == 1
    assert unused[0].startswith("storage:write:notes is declared but unused")


def _direct(tmp_path, name, args, memory=True):
    """`name(args)` called once from a module run straight on wasmtime, with a `HostApi`
    granting `storage:read:docs` bound as the sandbox binds it."""
    import wasmtime

    from sandbench.hostapi import HostApi
    from sandbench.manifests import parse_permission
    from sandbench.sandbox.wasm.host import bound, define_host

    bucket = tmp_path / "docs"
    bucket.mkdir(exist_ok=True)
    (bucket / "k").write_bytes(b"0123456789")
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    define_host(linker)
    mem = '(memory (export "memory") 1) (data (i32.const 0) "docsk")' if memory else ""
    module = wasmtime.Module(
        engine,
        f"""(module {imports(name)} {mem}
          (func (export "run") (result i32) (call ${name} {args})))""",
    )
    store = wasmtime.Store(engine)
    run = linker.instantiate(store, module).exports(store)["run"]
    api = HostApi(
        [parse_permission("storage:read:docs")],
        storage_read={"docs": bucket},
        storage_write={},
        storage_bytes=1000,
        network=None,
        settings=HostSettings(),
    )
    try:
        with bound(api):
            return run(store), api.recorder.drain()
    finally:
        api.close()


PAGE = 65536


@pytest.mark.parametrize(
    ("out", "cap", "expected"),
    [
        (PAGE - 10, 10, 10),  # the buffer ends exactly at the end of memory
        (PAGE - 9, 10, Code.BAD_ARGUMENT),  # one byte past it
        (PAGE - 9, 9, Code.TOO_LARGE),  # the object's own cap applies first
        (-16, 10, Code.BAD_ARGUMENT),  # 4 GiB away
    ],
)
def test_a_result_buffer_at_the_edge_of_memory(tmp_path, out, cap, expected):
    args = f"(i32.const 0) (i32.const 4) (i32.const 4) (i32.const 1) (i32.const {out}) (i32.const {cap})"
    result, activity = _direct(tmp_path, "storage_read", args)
    assert result == expected
    assert [c.code for c in activity.calls] == ["too-large" if cap == 9 else "ok"]


def test_a_module_without_memory_gets_bad_argument_and_nothing_is_recorded(tmp_path):
    for length in (0, 4):
        result, activity = _direct(
            tmp_path, "log", f"(i32.const 1) (i32.const 0) (i32.const {length})", memory=False
        )
        assert result == Code.BAD_ARGUMENT
        assert activity.logs == activity.calls == ()
