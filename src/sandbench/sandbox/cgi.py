"""The wire formats of docs/abi.md: CGI environment, request envelope, CGI response.

Pure functions over bytes, shared by both WASM ABIs (and usable by any backend).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from .construct import made
from .interface import Request, Response

__all__ = [
    "ProtocolError",
    "cgi_environment",
    "cgi_response_fields",
    "parse_cgi_response",
    "request_envelope",
]

MAX_HEADER_BYTES = 16 * 1024
_TOKEN_RE = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_STATUS_RE = re.compile(rb"^([1-5]\d\d)(?:\s.*)?$")
# The three forms of an empty line; the leftmost match is the first empty line.
_EMPTY_LINE_RE = re.compile(rb"\r\n\r\n|\n\r?\n")
_EMPTY_LINES = (b"\r\n\r\n", b"\n\n", b"\n\r\n")
_HEAD_WINDOW = MAX_HEADER_BYTES + 4  # a match starting past the cap is an error either way
ABI_VERSION = "1"


class ProtocolError(ValueError):
    """The module's output is not a valid CGI response; the message says why."""


def cgi_environment(request: Request, module_name: str) -> list[tuple[str, str]]:
    """The environment of a `command` module for `request` (and nothing of the host's)."""
    env = [
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("SANDBENCH_ABI", ABI_VERSION),
        ("SANDBENCH_MODULE", module_name),
        ("REQUEST_METHOD", request.method),
        ("PATH_INFO", request.path),
        ("QUERY_STRING", request.query),
        ("CONTENT_LENGTH", str(len(request.body))),
    ]
    for name, value in request.headers:
        if name == "content-type":
            env.append(("CONTENT_TYPE", value))
        elif name != "content-length":
            env.append(("HTTP_" + name.upper().replace("-", "_"), value))
    return env


def request_envelope(request: Request) -> bytes:
    """The request bytes a `reactor` module receives: an HTTP/1.1 head and the body."""
    target = f"{request.path}?{request.query}" if request.query else request.path
    body = request.body
    head = f"{request.method} {target} HTTP/1.1\r\ncontent-length: {len(body)}\r\n"
    if request.headers:  # one format string for the common case: this runs on every call
        head += "".join(f"{n}: {v}\r\n" for n, v in request.headers if n != "content-length")
    return (head + "\r\n").encode("latin-1") + body


def parse_cgi_response(output: bytes) -> Response:
    """Parse CGI output (headers, empty line, body). Raises `ProtocolError`."""
    return made(Response, cgi_response_fields(output))


def cgi_response_fields(output: bytes, head_end: int = -1, body_at: int = -1) -> dict[str, Any]:
    """`parse_cgi_response`'s `Response` as a new dict of all its fields (status, headers,
    body), for a caller that makes the model its own way; `head_end` and `body_at` are
    where the first empty line starts and ends if the caller found it within the head's
    cap (native.py), else -1. Raises `ProtocolError`."""
    if head_end >= 0:
        head, body = output[:head_end], output[body_at:]
    else:
        if not output:
            raise ProtocolError("the module wrote no response (stdout was empty)")
        head, sep, body = _split_head(output)
        if not sep:
            shown = output[:40].decode("utf-8", "replace")
            raise ProtocolError(
                f"no empty line after the headers in the module's output (starts {shown!r}); "
                "write e.g. 'Status: 200\\n\\n' before the body"
            )
    status, headers = _parse_head(head)
    return {"status": status, "headers": headers, "body": body}


# Modules send the same few heads over and over: parsing one is most of this module's
# per-call cost, and the result depends on the head's bytes alone (errors are not cached).
@functools.lru_cache(maxsize=128)
def _parse_head(head: bytes) -> tuple[int, tuple[tuple[str, str], ...]]:
    status: int | None = None
    headers: list[tuple[str, str]] = []
    for line in head.splitlines():
        name, colon, value = line.partition(b":")
        if not colon or _TOKEN_RE.match(name) is None:
            shown = line[:60].decode("utf-8", "replace")
            raise ProtocolError(f"invalid header line {shown!r}; expected 'Name: value'")
        value = value.strip()
        if name.lower() == b"status":
            match = _STATUS_RE.match(value)
            if match is None:
                raise ProtocolError(f"invalid Status {value[:20]!r}; expected 100-599")
            status = int(match.group(1))
        else:
            headers.append((name.decode("ascii").lower(), value.decode("latin-1")))
    if status is None:
        status = 302 if any(n == "location" for n, _ in headers) else 200
    return status, tuple(headers)


def _split_head(output: bytes) -> tuple[bytes, bool, bytes]:
    """Split at the first empty line (either line ending); the head must fit the cap."""
    if output[:1] == b"\n":
        return b"", True, output[1:]
    if output[:2] == b"\r\n":
        return b"", True, output[2:]
    # The three forms found within the head's cap (a tenth of the regular expression's
    # cost); the expression decides only when none is there, for its exact messages.
    start, end = -1, -1
    for form in _EMPTY_LINES:
        # Once one is found, only one starting before it can be first.
        at = output.find(form, 0, _HEAD_WINDOW if start < 0 else start + len(form) - 1)
        if at >= 0:
            start, end = at, at + len(form)
    if start < 0:
        found = _EMPTY_LINE_RE.search(output)
        if found is None:
            if len(output) > MAX_HEADER_BYTES:
                raise ProtocolError("headers exceed 16 KiB without an empty line")
            return output, False, b""
        start, end = found.start(), found.end()
    if start > MAX_HEADER_BYTES:
        raise ProtocolError("headers exceed 16 KiB")
    return output[:start], True, output[end:]
