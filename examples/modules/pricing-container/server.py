"""pricing-py's handler as a container module: an HTTP server on $PORT around `app.handle`.

`app.py` is a byte-for-byte copy of examples/modules/pricing-py/app.py (a test checks it),
and `sandbench_guest.py` is the small container stand-in for the names it imports, so the
same handler code answers here and in the WebAssembly component (benchmarks/test_component.py
compares the two).
"""

import os
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit

from app import handle
from sandbench_guest import Request


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle's algorithm and
    # delayed ACKs add 40 ms to every keep-alive answer.
    disable_nagle_algorithm = True

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        target = urlsplit(self.path)
        request = Request(
            self.command,
            target.path,
            target.query,
            [(name.lower(), value) for name, value in self.headers.items()],
            self.rfile.read(length) if length else b"",
        )
        response = handle(request)
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    # Under sandbench the container has only `lo`, where sandbench connects.
    HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
