"""The egress proxy: the only way out of a container, for hosts its permissions name.

A module granted `api:external:HOST` gets `HTTP_PROXY` / `HTTPS_PROXY` pointing at
`127.0.0.1:PROXY_PORT` inside its own network namespace, where sandbench listens (see
`netns`). The proxy speaks plain HTTP forwarding (`GET http://host/...`) and `CONNECT
host:port` tunnels (for HTTPS; it never sees the plaintext). For each request it checks:

1. the host against the allow-list: `crm.example.com` allows ports 80 and 443,
   `crm.example.com:8443` that port only, `*.example.com` any subdomain (not the apex);
2. the manifest's `network` rate (`100req/min`), as a sliding window over the last period
   (`network: none` or none at all: no request, as for the WASM host API);
3. the address: an allowed name is resolved once, and the proxy connects to a public
   address it resolved to (`sandbench.hostapi.addresses`: no loopback, private,
   link-local / metadata, unique-local, multicast or unspecified address, in any
   spelling), never to the name again, so DNS rebinding between check and connect changes
   nothing. A name the operator pinned (`--resolve`) goes to its pinned address instead.

A refused request gets `403` (host, address) or `429` (rate) and is recorded as a `Denial`
with the host and the time: evidence for the report. Host names are resolved only for
allowed hosts, so a denied name never reaches DNS.

At most `MAX_CONNECTIONS` client connections are served at once (one thread each); a
connection past that is closed at once and counted in `cap.refused` (a count, not a
`Denial` each: a flood must not grow a list). A request head must arrive within
`_HEAD_S`; a tunnel idle for `_IDLE_S` is closed.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sandbench.hostapi.addresses import public_addresses
from sandbench.hostapi.rate import SlidingWindow
from sandbench.hostapi.serve import MAX_CONNECTIONS, ConnectionCap
from sandbench.manifests import Rate
from sandbench.sandbox.interface import Closing

__all__ = ["PROXY_PORT", "AllowList", "Denial", "EgressProxy"]

PROXY_PORT = 3128
_HEAD_LIMIT = 16 * 1024
_IDLE_S = 30.0
_HEAD_S = 10.0


@dataclass(frozen=True)
class Denial:
    """One refused attempt to reach `host:port`; `at` is the Unix time; `reason` is
    host|rate|address."""

    host: str
    port: int
    at: float
    reason: str


class AllowList:
    """The hosts `api:external:TARGET` permissions name."""

    def __init__(self, targets: Iterable[str]) -> None:
        self._rules: list[tuple[str, int | None]] = []
        for target in targets:
            host, _, port = target.lower().partition(":")
            self._rules.append((host, int(port) if port else None))

    def __bool__(self) -> bool:
        return bool(self._rules)

    def allows(self, host: str, port: int) -> bool:
        """True when some rule names `host` (case-insensitive) and permits `port`."""
        host = host.lower().rstrip(".")
        for pattern, allowed_port in self._rules:
            ports = (80, 443) if allowed_port is None else (allowed_port,)
            if port not in ports:
                continue
            if pattern == "*" or pattern == host:
                return True
            if pattern.startswith("*.") and host.endswith(pattern[1:]):
                return True
        return False


def _split_host(authority: str, default_port: int) -> tuple[str, int]:
    host, sep, port = authority.rpartition(":")
    if not sep or "]" in port:
        return authority.strip("[]"), default_port
    return host.strip("[]"), int(port)


class EgressProxy(Closing):
    """Serves the proxy protocol on `listener` (a socket inside the container's namespace).

    `pins` maps host names to the `ADDR:PORT` the operator pinned them to; `cap` bounds
    the connections (a new `ConnectionCap` when None; proxies that share one share it).
    """

    def __init__(
        self,
        listener: socket.socket,
        allow: AllowList,
        rate: Rate | None,
        pins: dict[str, str] | None = None,
        cap: ConnectionCap | None = None,
    ) -> None:
        self._listener = listener
        self._allow = allow
        self._pins = pins or {}
        self.cap = cap or ConnectionCap("the egress proxy", MAX_CONNECTIONS)
        self._window = SlidingWindow(rate)
        self._denials: list[Denial] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="sandbench-egress", daemon=True)
        self._thread.start()

    @property
    def denials(self) -> list[Denial]:
        """Every refused attempt so far, oldest first."""
        with self._lock:
            return list(self._denials)

    def _serve(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.cap.take():  # no thread, no record per connection: a count
                client.close()
                continue
            try:
                threading.Thread(target=self._handle, args=(client,), daemon=True).start()
            except BaseException:
                self.cap.give()
                client.close()
                raise

    def _handle(self, client: socket.socket) -> None:
        with contextlib.closing(client):
            try:
                head, rest = self._read_head(client)
                client.settimeout(_IDLE_S)
                self._route(client, head, rest)
            except (OSError, ValueError):
                return
            finally:
                self.cap.give()

    @staticmethod
    def _read_head(client: socket.socket) -> tuple[bytes, bytes]:
        deadline = time.monotonic() + _HEAD_S
        data = b""
        while b"\r\n\r\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ValueError("the request head took too long")
            client.settimeout(left)
            chunk = client.recv(4096)
            if not chunk or len(data) > _HEAD_LIMIT:
                raise ValueError("no complete request head")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        return head, rest

    def _route(self, client: socket.socket, head: bytes, rest: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        if method == "CONNECT":
            host, port = _split_host(target, 443)
        elif target.startswith("http://"):
            authority = target[len("http://") :].split("/", 1)[0]
            host, port = _split_host(authority, 80)
        else:
            client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        if not self._admit(client, host, port):
            return
        address = self._address(host, port)
        if address is None:
            self._refuse(client, host, port, "address", b"403 Forbidden")
            return
        upstream = socket.create_connection(address, timeout=_IDLE_S)
        with contextlib.closing(upstream):
            if method == "CONNECT":
                client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            else:
                path = "/" + target[len("http://") :].partition("/")[2]
                kept = [h for h in lines[1:] if not h.lower().startswith(("proxy-", "connection"))]
                head_out = "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close"])
                upstream.sendall(head_out.encode("latin-1") + b"\r\n\r\n")
            if rest:
                upstream.sendall(rest)
            _splice(client, upstream)

    def _admit(self, client: socket.socket, host: str, port: int) -> bool:
        if not self._allow.allows(host, port):
            reason, answer = "host", b"403 Forbidden"
        elif not self._window.take():
            reason, answer = "rate", b"429 Too Many Requests"
        else:
            return True
        self._refuse(client, host, port, reason, answer)
        return False

    def _address(self, host: str, port: int) -> tuple[str, int] | None:
        """Where to connect for `host:port`: its pin, else a public address it resolves to."""
        pinned = self._pins.get(host.lower().rstrip("."))
        if pinned is not None:
            address, _, pinned_port = pinned.rpartition(":")
            return address.strip("[]"), int(pinned_port)
        try:
            found = public_addresses(host, port)
        except OSError:
            return None
        return found[0] if found else None

    def _deny(self, host: str, port: int, reason: str) -> None:
        with self._lock:
            self._denials.append(Denial(host=host, port=port, at=time.time(), reason=reason))

    def _refuse(
        self, client: socket.socket, host: str, port: int, reason: str, answer: bytes
    ) -> None:
        self._deny(host, port, reason)
        message = f"sandbench egress: {host}:{port} denied ({reason})\n".encode()
        client.sendall(
            b"HTTP/1.1 " + answer + b"\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(message)).encode() + b"\r\n\r\n" + message
        )

    def close(self) -> None:
        """Stop accepting; closing twice is harmless. Open tunnels end with their sockets."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)


def _splice(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes or both idle past `_IDLE_S`."""
    peers = {a: b, b: a}
    while True:
        ready, _, _ = select.select(list(peers), [], [], _IDLE_S)
        if not ready:
            return
        for sock in ready:
            data = sock.recv(65536)
            if not data:
                return
            peers[sock].sendall(data)
