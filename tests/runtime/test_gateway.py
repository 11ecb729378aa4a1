"""The gateway on real uvicorn and real wasmtime: routing, pools, isolation of failures,
and the Prometheus metrics the platform's alert rules read."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sandbench.manifests import load
from sandbench.reports import Policy
from sandbench.runtime import inline
from sandbench.runtime.gateway import Gateway, ModuleSpec
from sandbench.runtime.server import BackgroundServer, module_specs
from sandbench.sandbox import FakeBackend, Grants, Outcome, Response, SandboxLimits
from tests.conftest import EXAMPLES

MODULES = ["hello", "hello-reactor", "hostile/trap", "hostile/unknown-import",
           "hostile/infinite-loop"]  # fmt: skip


def fetch(url: str, path: str, method: str = "GET", body: bytes | None = None):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    _, _, text = fetch(url, "/metrics")
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from sandbench.sandbox.wasm import WasmBackend

    policy = Policy()
    with ExitStack() as stack:
        backend = stack.enter_context(WasmBackend(tmp_path_factory.mktemp("gw-cache")))
        paths = [EXAMPLES / name for name in MODULES]
        specs = module_specs(paths, policy.defaults.sandbox(), policy.ceilings.sandbox(), stack)
        gateway = stack.enter_context(Gateway(specs, backend, instances=2))
        states = gateway.start()
        server = stack.enter_context(BackgroundServer(gateway))
        yield server.url, states


def test_start_reports_each_module_state(served):
    _, states = served
    assert states["hello"] == "ready"
    assert "launch_missiles" in states["unknown-import"]


def test_routes_requests_to_the_module_with_the_rest_of_the_path(served):
    url, _ = served
    status, headers, body = fetch(url, "/hello/any/path?x=1")
    assert (status, body) == (200, b"hello from sandbench\n")
    assert headers["content-type"] == "text/plain"
    assert fetch(url, "/hello-reactor/")[2] == b"hello from a reactor\n"


def test_unknown_route_is_404_and_healthz_lists_modules(served):
    url, _ = served
    assert fetch(url, "/nope/")[0] == 404
    status, _, body = fetch(url, "/healthz")
    health = json.loads(body)
    assert status == 200
    assert health["modules"]["hello"] == "ready"
    assert health["modules"]["unknown-import"].startswith("module unknown-import cannot be loaded")


def test_a_trap_is_a_502_and_the_gateway_keeps_serving(served):
    url, _ = served
    status, headers, body = fetch(url, "/trap/")
    assert status == 502
    assert headers["x-sandbench-violation"] == "trap"
    assert json.loads(body)["error"] == "trap"
    assert fetch(url, "/trap/")[0] == 502
    assert fetch(url, "/hello/")[0] == 200


def test_a_module_that_cannot_load_is_503_and_counted(served):
    url, _ = served
    before = samples(url).get(("module_load_failures_total", (("module", "unknown-import"),)), 0)
    time.sleep(1.1)  # past the reload back-off, so this request tries to load again
    status, _, body = fetch(url, "/unknown-import/")
    assert status == 503
    assert "launch_missiles" in json.loads(body)["error"]
    after = samples(url)[("module_load_failures_total", (("module", "unknown-import"),))]
    assert after == before + 1


def test_a_spinning_module_does_not_hold_up_the_others(served):
    url, _ = served
    results: list[tuple[int, float]] = []

    def spin() -> None:
        status = fetch(url, "/infinite-loop/")[0]
        results.append((status, time.perf_counter()))

    spinner = threading.Thread(target=spin)
    spinner.start()
    time.sleep(0.1)  # let the spinner's request reach its instance
    assert fetch(url, "/hello/")[0] == 200
    hello_done = time.perf_counter()
    spinner.join()
    # Answered while the spinner still ran (not after it), however fast the machine is.
    assert hello_done < results[0][1]
    assert results[0][0] in (502, 504)  # cpu (fuel) or timeout, whichever stops it first


def test_concurrent_requests_share_the_pool(served):
    url, _ = served
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(fetch(url, "/hello-reactor/")[0]))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8


def test_metrics_carry_the_names_the_alert_rules_use(served):
    url, _ = served
    fetch(url, "/hello/")
    fetch(url, "/trap/")
    found = samples(url)
    assert found[("http_requests_total", (("module", "hello"), ("status", "200")))] >= 1
    assert found[("http_requests_total", (("module", "trap"), ("status", "502")))] >= 1
    bucket = ("http_request_duration_seconds_bucket", (("le", "+Inf"), ("module", "hello")))
    assert found[bucket] >= 1
    assert found[("module_violations_total", (("kind", "trap"), ("module", "trap")))] >= 1
    assert ("module_memory_bytes", (("module", "hello"),)) in found
    assert ("module_cpu_seconds_total", (("module", "hello"),)) in found
    assert found[("process_resident_memory_bytes", ())] > 0


def test_a_body_above_the_cap_is_413(tmp_path):
    package = load(EXAMPLES / "hello")
    backend = FakeBackend([Outcome(response=Response(status=200, body=b"ok"))])
    spec = ModuleSpec("hello", package, SandboxLimits(), Grants())
    with Gateway([spec], backend, max_body=10) as gateway, BackgroundServer(gateway) as server:
        assert fetch(server.url, "/hello/", "POST", b"x" * 11)[0] == 413
        assert fetch(server.url, "/hello/", "POST", b"x" * 10)[0] == 200
        assert backend.instances[0].requests[-1].body == b"x" * 10


def test_chunked_bodies_arrive_whole_and_header_names_in_lower_case(tmp_path):
    package = load(EXAMPLES / "hello")
    backend = FakeBackend([Outcome(response=Response(status=200, body=b"ok"))])
    spec = ModuleSpec("hello", package, SandboxLimits(), Grants())
    gateway = Gateway([spec], backend, instances=1, max_body=10)
    with gateway, BackgroundServer(gateway) as server:
        parts = urlsplit(server.url)
        for chunks, status in (([b"abc", b"defg"], 200), ([b"abcdef", b"ghijk"], 413)):
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            try:  # an iterable body without a length goes out chunked
                conn.request("POST", "/hello/", body=iter(chunks), headers={"X-Mixed-Case": "1"})
                assert conn.getresponse().status == status
            finally:
                conn.close()
        request = backend.instances[0].requests[-1]
        assert request.body == b"abcdefg"
        assert ("transfer-encoding", "chunked") in request.headers
        assert ("x-mixed-case", "1") in request.headers
        assert fetch(server.url, "/hello/")[0] == 200  # no framing header: an empty body
        assert backend.instances[0].requests[-1].body == b""


def test_headers_that_vary_on_every_request_and_response_arrive_as_sent():
    # More distinct header sets than the gateway remembers, each way: a client (a request
    # id) and a module (its own id, and a body of another length) varying theirs.
    sets = 150
    package = load(EXAMPLES / "hello")
    outcomes = [Outcome(response=Response(status=200, headers=(("x-n", str(n)),), body=b"o" * n))
                for n in range(sets)]  # fmt: skip
    backend = FakeBackend(outcomes)
    spec = ModuleSpec("hello", package, SandboxLimits(), Grants())
    with Gateway([spec], backend, instances=1) as gateway, BackgroundServer(gateway) as server:
        parts = urlsplit(server.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            for n in range(sets):
                conn.request("GET", "/hello/", headers={"X-Request-Id": str(n)})
                response = conn.getresponse()
                assert response.read() == b"o" * n
                assert response.getheader("x-n") == str(n)
                assert response.getheader("content-length") == str(n)
        finally:
            conn.close()
        sent = [dict(request.headers)["x-request-id"] for request in backend.instances[0].requests]
        assert sent == [str(n) for n in range(sets)]


def test_a_host_fault_drops_the_instance_and_the_next_call_gets_a_new_one():
    package = load(EXAMPLES / "hello")
    backend = FakeBackend([Outcome(response=Response(status=200, body=b"ok"))])
    spec = ModuleSpec("hello", package, SandboxLimits(), Grants())
    with Gateway([spec], backend, instances=1) as gateway, BackgroundServer(gateway) as server:
        gateway.start()
        backend.instances[0].close()  # a closed fake raises SandboxError: a host fault
        assert fetch(server.url, "/hello/")[0] == 500
        assert fetch(server.url, "/hello/")[:3:2] == (200, b"ok")
        assert len(backend.instances) == 2


def test_routes_must_be_unique():
    package = load(EXAMPLES / "hello")
    spec = ModuleSpec("hello", package, SandboxLimits(), Grants())
    with pytest.raises(ValueError, match="unique"):
        Gateway([spec, spec], FakeBackend())


def test_the_instances_of_a_module_share_one_cpu_budget(tmp_path):
    from sandbench.sandbox.wasm import WasmBackend

    # 2m for 1 s: each spinning call burns far more than the 2 ms bucket.
    limits = SandboxLimits(cpu_millicores=2, timeout_ms=1000)
    spec = ModuleSpec("spin", load(EXAMPLES / "hostile/infinite-loop"), limits, Grants())
    with (
        WasmBackend(tmp_path / "cache") as backend,
        Gateway([spec], backend, instances=4) as gateway,
        BackgroundServer(gateway) as server,
    ):
        statuses: list[int] = []
        threads = [
            threading.Thread(target=lambda: statuses.append(fetch(server.url, "/spin/")[0]))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        live = gateway.live_instances()
        budgets = {id(instance.cpu) for instance in live}
        status, headers, body = fetch(server.url, "/spin/")
    assert statuses == [502] * 4
    assert len(live) > 1
    assert len(budgets) == 1  # one budget for the module, however many instances
    # The module is in debt: the next call is refused on whichever instance takes it.
    assert (status, headers["x-sandbench-violation"]) == (502, "cpu")
    assert "CPU share (2m) is used up" in json.loads(body)["message"]


def test_a_module_without_permissions_is_called_on_the_event_loop(tmp_path, monkeypatch):
    from sandbench.sandbox.wasm import WasmBackend

    # Which modules are called inline is what is tested here, not the inline time: at 5 ms
    # a busy machine may take a tick from a call and cut it short (test_inline.py).
    monkeypatch.setattr(inline, "INLINE_TIMEOUT_MS", 1000)
    policy = Policy()
    with ExitStack() as stack:
        backend = stack.enter_context(WasmBackend(tmp_path / "cache"))
        paths = [EXAMPLES / "hello-reactor", EXAMPLES / "hello", EXAMPLES / "host-storage"]
        specs = module_specs(paths, policy.defaults.sandbox(), policy.ceilings.sandbox(), stack)
        gateway = stack.enter_context(Gateway(specs, backend, instances=1))
        gateway.start()
        server = stack.enter_context(BackgroundServer(gateway))
        for _ in range(5):
            assert fetch(server.url, "/hello-reactor/")[0] == 200
            assert fetch(server.url, "/hello/")[0] == 200  # a command module too
        assert fetch(server.url, "/host-storage/")[0] == 200
        assert gateway.inline_calls("hello-reactor") == gateway.inline_calls("hello") == (5, 0)
        # A module with permissions (here storage) always runs on a worker thread.
        assert gateway.inline_calls("host-storage") == (0, 0)
        counted = samples(server.url)
    assert counted[("http_requests_total", (("module", "hello-reactor"), ("status", "200")))] == 5


def test_an_inline_call_needs_no_slot_of_the_pool(tmp_path):
    spec = ModuleSpec("hello", load(EXAMPLES / "hello"), SandboxLimits(timeout_ms=1000), Grants())
    with started(spec, tmp_path / "cache") as (gateway, url):
        slots = gateway._pools["hello"].slots
        held = slots.get_nowait()  # the pool's only slot, as a call on a thread holds it
        try:
            answers = [fetch(url, "/hello/") for _ in range(3)]
        finally:
            slots.put_nowait(held)
        inline, _ = gateway.inline_calls("hello")
    # Answered inline, without the slot (a call cut short only because its thread lost the
    # core would wait for the slot on a thread: a 503 here, and not counted inline).
    answered = [body for status, _, body in answers if status == 200]
    assert answered == [b"hello from sandbench\n"] * inline
    assert inline >= 1


@contextlib.contextmanager
def started(spec: ModuleSpec, cache: Path) -> Iterator[tuple[Gateway, str]]:
    """`spec` alone in a started gateway (its inline instance loaded) on real wasmtime."""
    from sandbench.sandbox.wasm import WasmBackend

    with WasmBackend(cache) as backend, Gateway([spec], backend, instances=1) as gateway:
        gateway.start()
        with BackgroundServer(gateway) as server:
            yield gateway, server.url


def test_a_spinning_call_is_cut_short_inline_and_made_again_on_a_thread(tmp_path):
    limits = SandboxLimits(cpu_millicores=250, timeout_ms=1000)
    spec = ModuleSpec("spin", load(EXAMPLES / "hostile/infinite-loop"), limits, Grants())
    with started(spec, tmp_path / "cache") as (gateway, url):
        status, headers, body = fetch(url, "/spin/")
        shares = {id(instance.cpu.share) for instance in gateway.live_instances()}
        spun = samples(url)
    # The answer is the one the module's own limits give, not the inline attempt's.
    assert status in (502, 504)
    assert "5 ms" not in json.loads(body)["message"]
    assert gateway.inline_calls("spin") == (0, 1)
    assert len(gateway.live_instances()) == 0  # closed with the gateway
    assert len(shares) == 1  # the inline instance's CPU is charged to the module's one share
    assert spun[("module_violations_total", (("kind", headers["x-sandbench-violation"]),
                                             ("module", "spin")))] == 1  # fmt: skip


def test_a_sleeping_call_is_cut_short_inline_and_sleeps_on_a_thread(tmp_path, make_module):
    from tests.sandbox.wat import SLEEP_UNTIL

    package = load(make_module(SLEEP_UNTIL))  # sleeps 50 ms in poll_oneoff, then answers
    spec = ModuleSpec("sleep", package, SandboxLimits(timeout_ms=1000), Grants())
    with started(spec, tmp_path / "cache") as (gateway, url):
        answers = [fetch(url, "/sleep/")[0] for _ in range(2)]
        inline = gateway.inline_calls("sleep")
    assert answers == [200, 200]  # both slept their 50 ms on a worker thread
    # The first was cut short inline; the module then backed off for 1 s, in which the
    # second came, unless a busy machine took longer than that between the two.
    assert inline in ((0, 1), (0, 2))
