"""The container side of `sandbench_guest`: just what `app.py` (pricing-py's handler) uses.

In a component, `sandbench_guest` is bundled by `sandbench build` and talks to the host
through the world's imports. In this container the same names are plain Python: `Request`
and `Response` are what `server.py` converts HTTP to and from, and `log` sends the line to
the platform's log through the host API on its unix socket (SANDBENCH_HOST_API), as the
component's `log` import does; without the socket the line goes to stderr.
"""

import http.client
import json as _json
import os
import socket
import sys
import urllib.parse

_LEVELS = {"debug", "info", "warn", "error"}


class Request:
    """An HTTP request; `headers` maps lower-case names to the last value sent."""

    def __init__(self, method="GET", path="/", query="", headers=None, body=b""):
        self.method = method
        self.path = path
        self.query = query
        self.header_list = list(headers or [])
        self.headers = {name.lower(): value for name, value in self.header_list}
        self.body = body

    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return _json.loads(self.body)


class Response:
    """An HTTP response; `body` may be bytes or text (sent as UTF-8)."""

    def __init__(self, status=200, body=b"", headers=None):
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        self.headers = [(name.lower(), value) for name, value in items]

    @classmethod
    def json(cls, value, status=200):
        body = _json.dumps(value, separators=(",", ":"))
        return cls(status, body, [("content-type", "application/json")])

    @classmethod
    def text(cls, value, status=200):
        return cls(status, value, [("content-type", "text/plain; charset=utf-8")])


class _HostApi(http.client.HTTPConnection):
    """http.client over the unix socket that SANDBENCH_HOST_API names."""

    def __init__(self, path):
        super().__init__("sandbench", timeout=2)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def log(level, message):
    """Log a line (`debug`, `info`, `warn`, `error`) to the platform's log."""
    level = level if level in _LEVELS else "info"
    address = os.environ.get("SANDBENCH_HOST_API", "")
    if not address.startswith("unix://"):
        print(f"{level}: {message}", file=sys.stderr)
        return
    host = _HostApi(address.removeprefix("unix://"))
    try:
        host.request("POST", "/v1/log?level=" + urllib.parse.quote(level), message.encode())
        host.getresponse().read()
    except OSError:
        pass  # the log is best effort, as in the component (past its quota, lines are dropped)
    finally:
        host.close()
