"""The ASGI side of the gateway: message types, the request's headers and body as a module
gets them, and whole responses (`headers` always carry the body's content-length)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any

from sandbench.sandbox import Outcome, ViolationKind

__all__ = [
    "FRAMING", "HOP_BY_HOP", "JSON_HEADERS", "Headers", "Message", "Receive", "RequestHeaders",
    "Scope", "Send", "decoded", "encoded", "error_answer", "json_body", "length_header",
    "lifespan", "reply", "rest_of_body", "violation_answer",
]  # fmt: skip

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

Headers = list[tuple[bytes, bytes]]
RequestHeaders = tuple[tuple[tuple[str, str], ...], bool]  # the headers, and if a body is framed

HOP_BY_HOP = frozenset(
    {"connection", "content-length", "keep-alive", "transfer-encoding", "upgrade"}
)
FRAMING = frozenset({"content-length", "transfer-encoding"})  # HTTP/1 request headers
JSON_HEADERS: Headers = [(b"content-type", b"application/json")]


def violation_answer(outcome: Outcome) -> tuple[int, Headers, bytes]:
    """The 504 (timeout) or 502 (any other violation, or no response) for an outcome."""
    kind = outcome.violation.kind if outcome.violation else ViolationKind.PROTOCOL
    message = outcome.violation.message if outcome.violation else "no response"
    body = json_body({"error": kind.value, "message": message})
    headers = [(b"content-type", b"application/json"),
               (b"x-sandbench-violation", kind.value.encode()), length_header(body)]  # fmt: skip
    return 504 if kind is ViolationKind.TIMEOUT else 502, headers, body


def encoded(headers: Sequence[tuple[str, str]], length: int) -> Headers:
    """A module's response headers as ASGI wants them, hop-by-hop ones left out and the
    body's length added."""
    raw = [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in headers
        if k.lower() not in HOP_BY_HOP
    ]
    raw.append((b"content-length", str(length).encode()))
    return raw


def decoded(raw: Iterable[Sequence[bytes]]) -> RequestHeaders:
    """ASGI request headers as a module gets them (text, names in lower case), and whether
    one of them frames a body."""
    headers = tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw)
    return headers, any(k in FRAMING for k, _ in headers)


def length_header(body: bytes) -> tuple[bytes, bytes]:
    """The content-length header of `body`."""
    return b"content-length", str(len(body)).encode()


def error_answer(status: int, message: str) -> tuple[int, Headers, bytes]:
    """A gateway error: `status` with `{"error": message}`."""
    body = json_body({"error": message})
    return status, [*JSON_HEADERS, length_header(body)], body


def json_body(value: object) -> bytes:
    """`value` as a JSON body (one line)."""
    return json.dumps(value).encode() + b"\n"


async def rest_of_body(receive: Receive, first: bytes, limit: int) -> bytes | None:
    """The whole body, from its `first` chunk on; None once it is past `limit` (the rest
    is not read)."""
    chunks = [first]
    size = len(first)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def reply(send: Send, status: int, headers: Headers, body: bytes) -> None:
    """Send a whole response (`headers` include its content-length)."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def lifespan(receive: Receive, send: Send) -> None:
    """Answer the lifespan protocol (nothing to start or stop: `Gateway.start` loads)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
