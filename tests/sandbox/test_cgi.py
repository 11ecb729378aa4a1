"""The wire formats of docs/abi.md."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbench.sandbox import (
    ProtocolError,
    Request,
    cgi,
    cgi_environment,
    parse_cgi_response,
    request_envelope,
)


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_parses_status_headers_and_body(newline):
    output = newline.join([b"Status: 201 Created", b"Content-Type: text/plain", b"", b"a\nb"])
    response = parse_cgi_response(output)
    assert response.status == 201
    assert response.headers == (("content-type", "text/plain"),)
    assert response.body == b"a\nb"


def test_status_defaults_to_200_and_to_302_with_location():
    assert parse_cgi_response(b"X-A: 1\n\n").status == 200
    assert parse_cgi_response(b"Location: /x\n\n").status == 302


def test_a_leading_empty_line_means_no_headers():
    response = parse_cgi_response(b"\nbody")
    assert (response.status, response.body) == (200, b"body")


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (b"", "wrote no response"),
        (b"no blank line", "no empty line"),
        (b"Status: 99\n\n", "invalid Status"),
        (b"Status: 600\n\n", "invalid Status"),
        (b"Status: abc\n\n", "invalid Status"),
        (b"bad header line\n\n", "invalid header line"),
        (b"Bad Name: x\n\n", "invalid header line"),
        (b"X: " + b"a" * 20_000 + b"\n\nbody", "exceed 16 KiB"),
        (b"X: " + b"a" * 20_000, "exceed 16 KiB"),
    ],
)
def test_invalid_output_says_what_is_wrong(output, message):
    with pytest.raises(ProtocolError, match=message):
        parse_cgi_response(output)


def test_environment_carries_request_and_nothing_else():
    request = Request(
        method="POST",
        path="/quote",
        query="currency=BRL",
        headers=(("content-type", "text/csv"), ("x-trace-id", "7"), ("content-length", "99")),
        body=b"abc",
    )
    env = dict(cgi_environment(request, "@x/y"))
    assert env == {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SANDBENCH_ABI": "1",
        "SANDBENCH_MODULE": "@x/y",
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/quote",
        "QUERY_STRING": "currency=BRL",
        "CONTENT_LENGTH": "3",
        "CONTENT_TYPE": "text/csv",
        "HTTP_X_TRACE_ID": "7",
    }


def test_envelope_is_an_http_head_with_exact_length():
    request = Request(method="POST", path="/q", query="a=1", headers=(("x-a", "b"),), body=b"xyz")
    assert request_envelope(request) == (
        b"POST /q?a=1 HTTP/1.1\r\ncontent-length: 3\r\nx-a: b\r\n\r\nxyz"
    )


def test_a_repeated_head_parses_the_same_and_a_bad_one_fails_every_time():
    # Heads are parsed once and remembered (cgi._parse_head): errors must not be.
    first = parse_cgi_response(b"Status: 404\r\nX-A: 1\r\n\r\none")
    second = parse_cgi_response(b"Status: 404\r\nX-A: 1\r\n\r\ntwo")
    assert (first.status, first.headers, first.body) == (404, (("x-a", "1"),), b"one")
    assert (second.status, second.headers, second.body) == (404, (("x-a", "1"),), b"two")
    for _ in range(2):
        with pytest.raises(ProtocolError, match="invalid header line"):
            parse_cgi_response(b"bad head\n\nbody")


@pytest.mark.parametrize(
    ("output", "headers", "body"),
    [
        (b"A: 1\r\n\nbody", (("a", "1"),), b"body"),  # \r\n then \n: the \n\n ends the head
        (b"A: 1\n\r\nbody", (("a", "1"),), b"body"),
        (b"A: 1\r\n\r\n\r\nbody", (("a", "1"),), b"\r\nbody"),
    ],
)
def test_the_first_empty_line_of_any_ending_ends_the_head(output, headers, body):
    response = parse_cgi_response(output)
    assert (response.headers, response.body) == (headers, body)


def _split_by_pattern(output: bytes) -> tuple[bytes, bool, bytes]:
    """The head split as the CGI grammar says it: the leftmost empty line of any form."""
    if output[:1] == b"\n":
        return b"", True, output[1:]
    if output[:2] == b"\r\n":
        return b"", True, output[2:]
    found = re.search(rb"\r\n\r\n|\n\r?\n", output)
    if found is None:
        return output, False, b""
    return output[: found.start()], True, output[found.end() :]


@given(st.lists(st.sampled_from(b"\r\n\r\n:a"), max_size=24).map(bytes))
def test_the_head_split_takes_the_first_empty_line_of_any_form(output):
    assert cgi._split_head(output) == _split_by_pattern(output)
