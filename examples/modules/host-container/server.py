"""A container module that uses the platform host API over its unix socket (docs/hostapi.md).

GET / -> logs a line, writes notes/visits.txt, reads it back and answers 200 with its text.
The host API is HTTP on the socket SANDBENCH_HOST_API names; the module has no network.
"""

import http.client
import json
import os
import socket
from http.server import BaseHTTPRequestHandler, HTTPServer


class HostApi(http.client.HTTPConnection):
    """http.client over the unix socket in SANDBENCH_HOST_API (unix:///run/sandbench/host.sock)."""

    def __init__(self):
        super().__init__("sandbench", timeout=2)
        self.path = os.environ["SANDBENCH_HOST_API"].removeprefix("unix://")

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)

    def call(self, method, path, body=None):
        self.request(method, path, body=body)
        answer = self.getresponse()
        return answer.status, answer.read()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != "/":
            self._send(404, b'{"error": "not found"}')
            return
        host = HostApi()
        try:
            logged, _ = host.call("POST", "/v1/log?level=info", b"health check served")
            wrote, _ = host.call("PUT", "/v1/storage/notes/visits.txt", b"visited")
            read, text = host.call("GET", "/v1/storage/notes/visits.txt")
        finally:
            host.close()
        ok = (logged, wrote, read) == (204, 204, 200)
        body = {"status": "ok" if ok else "host API failed", "notes": text.decode()}
        self._send(200 if ok else 500, json.dumps(body).encode())

    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
