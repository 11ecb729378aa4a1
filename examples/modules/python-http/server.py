"""A small sandbench container module: an HTTP server on $PORT, standard library only.

GET /            -> {"status": "ok", "module": "python-http"}
POST /echo       -> the request body, as sent
GET /storage     -> the file names in the granted bucket /storage/docs
"""

import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle's algorithm and
    # delayed ACKs add 40 ms to every keep-alive answer.
    disable_nagle_algorithm = True

    def _send(self, status, body, kind="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/":
            self._send(200, json.dumps({"status": "ok", "module": "python-http"}).encode())
        elif self.path == "/storage":
            names = sorted(os.listdir("/storage/docs"))
            self._send(200, json.dumps({"files": names}).encode())
        else:
            self._send(404, b'{"error": "not found"}')

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self._send(200, body, self.headers.get("Content-Type") or "application/octet-stream")

    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    # All interfaces: under sandbench the container has only `lo`; a bare `docker run -p`
    # (the benchmark's baseline) needs the bridge interface too.
    address = ("0.0.0.0", int(os.environ.get("PORT", "8080")))  # noqa: S104  # nosec B104
    HTTPServer(address, Handler).serve_forever()
