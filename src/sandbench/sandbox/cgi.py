"""The wire formats of docs/abi.md: CGI environment, request envelope, CGI response.

Pure functions over bytes, shared by both WASM ABIs (and usable by any backend).
"""

from __future__ import annotations

import re

from .interface import Request, Response

__all__ = ["ProtocolError", "cgi_environment", "parse_cgi_response", "request_envelope"]

MAX_HEADER_BYTES = 16 * 1024
_TOKEN_RE = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_STATUS_RE = re.compile(rb"^([1-5]\d\d)(?:\s.*)?$")
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
    target = request.path + (f"?{request.query}" if request.query else "")
    lines = [f"{request.method} {target} HTTP/1.1", f"content-length: {len(request.body)}"]
    lines += [f"{n}: {v}" for n, v in request.headers if n != "content-length"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body


def parse_cgi_response(output: bytes) -> Response:
    """Parse CGI output (headers, empty line, body). Raises `ProtocolError`."""
    if not output:
        raise ProtocolError("the module wrote no response (stdout was empty)")
    head, sep, body = _split_head(output)
    if not sep:
        shown = output[:40].decode("utf-8", "replace")
        raise ProtocolError(
            f"no empty line after the headers in the module's output (starts {shown!r}); "
            "write e.g. 'Status: 200\\n\\n' before the body"
        )
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
    return Response.model_construct(status=status, headers=tuple(headers), body=body)


def _split_head(output: bytes) -> tuple[bytes, bool, bytes]:
    """Split at the first empty line (either line ending); the head must fit the cap."""
    for sep in (b"\r\n\r\n", b"\n\n", b"\n\r\n"):
        if output.startswith(sep[len(sep) // 2 :]):
            return b"", True, output[len(sep) // 2 :]
    positions = [(output.find(sep), sep) for sep in (b"\r\n\r\n", b"\n\n", b"\n\r\n")]
    found = [(i, sep) for i, sep in positions if i >= 0]
    if not found:
        if len(output) > MAX_HEADER_BYTES:
            raise ProtocolError("headers exceed 16 KiB without an empty line")
        return output, False, b""
    index, sep = min(found)
    if index > MAX_HEADER_BYTES:
        raise ProtocolError("headers exceed 16 KiB")
    return output[:index], True, output[index + len(sep) :]
