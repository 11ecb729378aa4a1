"""A loopback HTTP server for the host API tests. It listens on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    """`/big` answers 2 MiB, `/slow` waits 2 s, anything else echoes what it got."""

    def do_GET(self) -> None:
        if self.path == "/big":
            self._answer(b"x" * (2 * 1024 * 1024))
        elif self.path == "/slow":
            time.sleep(2)
            self._answer(b"late")
        else:
            self._answer(f"{self.command} {self.path} host={self.headers['Host']}".encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self._answer(b"got " + self.rfile.read(length))

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gave up (the time-cap test)
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve() -> Iterator[str]:
    """Run the server; yields `127.0.0.1:PORT` for a capability's `resolve` map."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
