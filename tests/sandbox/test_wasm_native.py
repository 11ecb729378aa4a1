"""The compiled reactor call (sandbox/wasm/_native.c, native.py): the same answers and
errors as the Python it replaced, and a clear line when it is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbench.manifests import load
from sandbench.sandbox import ProtocolError, Request, SandboxLimits, ViolationKind
from sandbench.sandbox.cgi import parse_cgi_response
from sandbench.sandbox.interface import Grants, Response

ROOT = Path(__file__).resolve().parents[2]
BODY = 12
# Answers with the request's body: the last BODY bytes of the envelope, in place.
ECHO_BODY = f"""(module
  (memory (export "memory") 1)
  (func (export "sandbench_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "sandbench_handle") (param $ptr i32) (param $len i32) (result i64)
    (i64.or
      (i64.shl (i64.extend_i32_u (i32.sub (i32.add (local.get $ptr) (local.get $len))
                                          (i32.const {BODY}))) (i64.const 32))
      (i64.const {BODY}))))"""
# Bytes that make CGI heads, empty lines of every form, and broken ones.
OUTPUTS = st.lists(st.sampled_from(b"\r\n\r\n:aS 2"), min_size=BODY, max_size=BODY).map(bytes)


def _expected(output: bytes) -> Response | str:
    """What the Python parser makes of `output`: its response, or its error's message."""
    try:
        return parse_cgi_response(output)
    except ProtocolError as exc:
        return str(exc)


def test_the_native_head_split_answers_as_the_python_parser(backend, make_module):
    package = load(make_module(ECHO_BODY, abi="reactor"))
    result = backend.load(package, SandboxLimits(), Grants())
    assert result.instance is not None, result.violation

    # One instance for every example: a protocol violation re-creates it, as in service.
    @settings(max_examples=300, deadline=None)
    @given(output=OUTPUTS)
    def answers_as_python(output: bytes) -> None:
        outcome = instance.invoke(Request(method="POST", body=output))
        expected = _expected(output)
        if isinstance(expected, str):
            assert outcome.response is None
            assert outcome.violation.kind is ViolationKind.PROTOCOL
            assert outcome.violation.message == expected
        else:
            assert outcome.violation is None, outcome.violation
            assert outcome.response == expected
            assert outcome.usage.output_bytes == BODY

    with result.instance as instance:
        assert instance.warm_up() is None
        assert instance._live.fast is not None  # its instances take the native path
        answers_as_python()


def test_without_the_extension_sandbench_says_so_in_one_line(tmp_path):
    # A finder that refuses the extension, as a failed build or a wrong platform would.
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'sandbench.sandbox.wasm._native':\n"
        "            raise ImportError('refused by the test')\n"
        "sys.meta_path.insert(0, _Refuse())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "SANDBENCH_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [Path(sys.executable).parent / "sandbench", "check", str(ROOT / "examples/modules/hello")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    errors = [line for line in done.stderr.splitlines() if not line.startswith("[")]  # progress
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("sandbench: error: wasm backend unavailable: ")
    assert "sandbench.sandbox.wasm._native did not load (refused by the test)" in errors[0]
    assert "Traceback" not in done.stderr


def _hostile(alloc: int, packed: int) -> str:
    """A reactor whose alloc returns `alloc` and whose handle returns `packed` (ptr << 32 |
    len), both as the module chooses them, with one 64 KiB page of memory."""
    return f"""(module
  (memory (export "memory") 1)
  (data (i32.const 0) "Status: 200\\n\\nok")
  (func (export "sandbench_alloc") (param i32) (result i32) (i32.const {alloc}))
  (func (export "sandbench_handle") (param i32 i32) (result i64) (i64.const {packed})))"""


PAGE = 65536


@pytest.mark.parametrize(
    ("alloc", "packed", "words"),
    [
        (0, 16, "sandbench_alloc("),  # a null pointer
        (-1, 16, "sandbench_alloc("),  # negative
        (-(2**31), 16, "sandbench_alloc("),  # the most negative i32
        (PAGE - 8, 16, "outside memory"),  # the request would run past the end
        (2**31 - 1, 16, "outside memory"),  # far past the end
        (4096, (PAGE << 32) | 1, "outside memory"),  # output starting at the end
        (4096, ((PAGE - 4) << 32) | 16, "outside memory"),  # output running past the end
        (4096, (0xFFFFFFFF << 32) | 0x10, "outside memory"),  # ptr + len wraps at 32 bits
        (4096, -1, "output"),  # 4 GiB of output: past the cap before any bounds
    ],
)
def test_hostile_pointers_and_lengths_are_violations_not_reads(
    backend, make_module, alloc, packed, words
):
    """Every pointer and length the module hands back is checked before use (_native.c);
    the instance is made afresh and the next call meets the same check."""
    package = load(make_module(_hostile(alloc, packed), abi="reactor"))
    limits = SandboxLimits(output_bytes=1024 * 1024)
    with backend.load(package, limits, Grants()).instance as instance:
        outcomes = [instance.invoke(Request(body=b"x" * 64)) for _ in range(2)]
    for outcome in outcomes:
        assert outcome.response is None
        assert outcome.violation is not None
        if words == "output":
            assert outcome.violation.kind is ViolationKind.OUTPUT, outcome.violation
        else:
            assert outcome.violation.kind is ViolationKind.PROTOCOL, outcome.violation
            assert words in outcome.violation.message


_TEXT = st.text(st.characters(max_codepoint=255), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT"]),
    path=_TEXT.map(lambda text: "/" + text),
    query=_TEXT,
    headers=st.lists(
        st.tuples(st.sampled_from(["host", "content-length", "x-a", "accept"]), _TEXT),
        max_size=5,
    ),
    body=st.binary(max_size=40),
)
def test_the_native_request_envelope_is_the_python_one(method, path, query, headers, body):
    from sandbench.sandbox.cgi import request_envelope
    from sandbench.sandbox.wasm.native import envelope

    request = Request(method=method, path=path, query=query, headers=tuple(headers), body=body)
    assert envelope(request) == request_envelope(request)


def test_the_native_request_envelope_refuses_text_beyond_latin_1():
    from sandbench.sandbox.wasm.native import envelope

    for request in (Request(path="/\u0100"), Request(headers=(("x-a", "\u20ac"),))):
        with pytest.raises(UnicodeEncodeError):
            envelope(request)


STATUS_OK = """(module
  (memory (export "memory") 1)
  (data (i32.const 0) "Status: 200\\n\\nok")
  (func (export "sandbench_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "sandbench_handle") (param i32 i32) (result i64) (i64.const 15)))"""


def test_the_native_call_charges_the_share_and_is_refused_or_waits_in_debt(backend, make_module):
    """The crossing checks the module's CPU share and charges it (the bucket section of
    _native.c): in debt beyond the timeout nothing runs; in debt within it, the call waits."""
    package = load(make_module(STATUS_OK, abi="reactor"))
    limits = SandboxLimits(cpu_millicores=1000, timeout_ms=5000)
    with backend.load(package, limits, Grants()).instance as instance:
        assert instance.warm_up() is None
        assert instance._live.fast is not None
        share = instance.cpu.share
        before = share.charged
        served = instance.invoke(Request())
        assert served.ok, served.violation
        assert share.charged - before == pytest.approx(served.usage.cpu_ms / 1000)
        assert served.usage.host_cpu_ms == served.usage.cpu_ms  # one reading ends both
        share.charge(60.0)  # a minute of debt at 1000m: past the 5 s timeout
        refused = instance.invoke(Request())
        assert refused.violation.kind is ViolationKind.CPU
        assert "CPU share (1000m) is used up" in refused.violation.message
        assert refused.usage.fuel == 0  # refused before it ran
        assert instance._live is not None  # nothing trapped: the live instance stays
        share.charge(share.level + 0.3)  # a negative charge: back to 0.3 CPU-s of debt
        waited = instance.invoke(Request())
    assert waited.ok, waited.violation
    assert waited.usage.throttled_ms > 0
    assert waited.response.body == b"ok"
