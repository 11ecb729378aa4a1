"""The `http` capability: outbound requests to granted hosts only.

- **Allow-list.** `api:external:HOST` grants exactly `HOST` (any port unless the permission
  names one); `api:external:*.example.com` grants the subdomains of `example.com` (not
  `example.com` itself); `api:external:*` grants any host. Nothing else is reachable.
- **Addresses.** A granted name that resolves to a loopback, private, link-local or
  otherwise non-public address is refused (no reaching the host's own services through
  a DNS name), unless the configuration's `resolve` map pins that name: that map is how
  tests and local setups point `crm.example.com` at a server on 127.0.0.1.
- **Rate.** `limits.network` (`100req/min`) is a sliding window over the module's
  requests; without it, no request is allowed. Refused requests do not count.
- **Caps.** A response body over `max_response_bytes` is a `too-large` error, a request
  that takes longer than `timeout_s` (connect plus reading) a `timeout`. Redirects are
  not followed: the module gets the 3xx and decides.

The request and response formats are in docs/abi.md ("http_fetch").
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from sandbench.manifests import Rate

from .addresses import is_public
from .codes import Code, HostResult
from .rate import SlidingWindow
from .record import Recorder

__all__ = ["FetchRequest", "Http", "HttpSettings", "parse_fetch_request"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpSettings(BaseModel):
    """How outbound requests are made. `resolve` pins host names to `address:port` strings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resolve: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=5.0, gt=0)
    max_response_bytes: int = Field(default=1024 * 1024, gt=0)
    max_request_bytes: int = Field(default=1024 * 1024, gt=0)


class FetchRequest(BaseModel):
    """One outbound request, as the module asked for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


def parse_fetch_request(raw: bytes) -> FetchRequest | None:
    """`METHOD URL` line, header lines, an empty line, the body; None when malformed."""
    head, sep, body = raw.partition(b"\n\n")
    if not sep:
        head, sep, body = raw.partition(b"\r\n\r\n")
    try:
        lines = head.decode("ascii").splitlines()
    except UnicodeDecodeError:
        return None
    if not lines:
        return None
    first = lines[0].split(" ")
    if len(first) != 2 or first[0] not in _METHODS:
        return None
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or any(c in name for c in " \t"):
            return None
        headers.append((name.strip(), value.strip()))
    return FetchRequest(method=first[0], url=first[1], headers=tuple(headers), body=body)


class Http:
    """See the module docstring. `hosts` are the `api:external:` targets."""

    def __init__(
        self,
        hosts: Iterable[str],
        rate: Rate | None,
        settings: HttpSettings,
        recorder: Recorder,
    ) -> None:
        self._hosts = tuple(hosts)
        self._rate = rate
        self._window = SlidingWindow(rate)
        self._settings = settings
        self._recorder = recorder

    def fetch(self, raw: bytes, cap: int) -> HostResult:
        """Send the request in `raw`; the response as CGI-style bytes (docs/abi.md)."""
        request = parse_fetch_request(raw)
        if request is None:
            return HostResult(self._record("?", Code.BAD_ARGUMENT, "malformed request"))
        parts = urlsplit(request.url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            return HostResult(self._record(request.url, Code.BAD_ARGUMENT, "not an http(s) URL"))
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return HostResult(self._record(request.url, Code.BAD_ARGUMENT, "bad port"))
        if parts.username or parts.password:
            return HostResult(self._record(host, Code.BAD_ARGUMENT, "credentials in the URL"))
        if not _granted(host, port, self._hosts):
            return HostResult(self._record(host, Code.DENIED, f"no api:external:{host} permission"))
        if not self._window.take():
            why = f"limits.network is {self._rate}" if self._rate else "limits.network is none"
            return HostResult(self._record(host, Code.RATE, why))
        if len(request.body) > self._settings.max_request_bytes:
            return HostResult(self._record(host, Code.TOO_LARGE, "request body over the cap"))
        address = self._address(host, port)
        if isinstance(address, Code):
            return HostResult(self._record(host, address, "resolves to a non-public address"))
        return self._send(request, parts.scheme, (host, port), address, cap)

    def _record(self, target: str, code: Code, detail: str = "") -> Code:
        return self._recorder.call("http", "fetch", target, code, detail)

    def _address(self, host: str, port: int) -> tuple[str, int] | Code:
        pinned = self._settings.resolve.get(host)
        if pinned is not None:
            address, _, pinned_port = pinned.rpartition(":")
            return address.strip("[]"), int(pinned_port)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            return Code.NOT_FOUND
        for *_, sockaddr in infos:
            # One rule for every way out (addresses.py): `is_global` alone lets multicast and
            # IPv6 forms that carry a private IPv4 address through.
            if is_public(str(sockaddr[0])):
                return str(sockaddr[0]), port
        return Code.DENIED

    def _send(
        self,
        request: FetchRequest,
        scheme: str,
        origin: tuple[str, int],
        address: tuple[str, int],
        cap: int,
    ) -> HostResult:
        limit = min(cap, self._settings.max_response_bytes)
        host = origin[0]
        connection = _connection(scheme, origin, address, self._settings.timeout_s)
        deadline = time.monotonic() + self._settings.timeout_s
        try:
            path = urlsplit(request.url).path or "/"
            query = urlsplit(request.url).query
            # The Host header names the granted host, whatever the module sent.
            headers = {k: v for k, v in request.headers if k.lower() != "host"}
            path = f"{path}?{query}" if query else path
            connection.request(request.method, path, body=request.body or None, headers=headers)
            response = connection.getresponse()
            body = _read_capped(response, limit, deadline)
        except TimeoutError:
            return HostResult(
                self._record(host, Code.TIMEOUT, f"no answer in {self._settings.timeout_s}s")
            )
        except (OSError, http.client.HTTPException) as exc:
            return HostResult(self._record(host, Code.FAILED, str(exc) or type(exc).__name__))
        finally:
            connection.close()
        if body is None:
            return HostResult(self._record(host, Code.TOO_LARGE, f"response over {limit} bytes"))
        head = f"Status: {response.status} {response.reason}\n" + "".join(
            f"{name}: {value}\n" for name, value in response.getheaders()
        )
        data = head.encode("latin-1") + b"\n" + body
        self._record(host, Code.OK, f"{request.method} {response.status}")
        return HostResult(Code.OK, data)


def _connection(
    scheme: str, origin: tuple[str, int], address: tuple[str, int], timeout: float
) -> http.client.HTTPConnection:
    """A connection to `address` that still names `origin` (Host header, TLS server name)."""
    host, port = origin
    if scheme == "https":
        connection: http.client.HTTPConnection = _PinnedHTTPS(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = _PinnedHTTP(host, port, timeout=timeout)
    connection.pinned = address  # type: ignore[attr-defined]
    return connection


class _PinnedHTTP(http.client.HTTPConnection):
    pinned: tuple[str, int]

    def connect(self) -> None:
        self.sock = socket.create_connection(self.pinned, self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(http.client.HTTPSConnection):
    pinned: tuple[str, int]

    def connect(self) -> None:
        sock = socket.create_connection(self.pinned, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _read_capped(response: http.client.HTTPResponse, limit: int, deadline: float) -> bytes | None:
    """The body, or None when it is longer than `limit`; raises TimeoutError past the deadline."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = response.read1(65536) if not response.isclosed() else b""
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _granted(host: str, port: int, hosts: Iterable[str]) -> bool:
    for grant in hosts:
        name, _, grant_port = grant.partition(":")
        if grant_port and int(grant_port) != port:
            continue
        if name == "*" or name == host:
            return True
        if name.startswith("*.") and host.endswith(name[1:]) and len(host) > len(name) - 1:
            return True
    return False
