"""HOSTILE container module: reaches past its host API grants; 200 only if all are refused.

Granted storage:read:docs and database:read:vendas. Each attempt below must come back
403 with `Sandbench-Error: denied`; any other answer makes GET / return 500 naming it.
"""

import http.client
import json
import os
import socket
from http.server import BaseHTTPRequestHandler, HTTPServer

ATTEMPTS = [
    ("GET", "/v1/storage/other/secret.txt", None),  # a bucket it was not granted
    ("PUT", "/v1/storage/docs/planted.txt", b"x"),  # a write to a read-only bucket
    ("GET", "/v1/storage/docs/../other/secret.txt", None),  # `..` out of the bucket
    ("GET", "/v1/storage/docs/..%2Fother%2Fsecret.txt", None),  # the same, encoded
    ("POST", "/v1/db/rh/query", b'{"sql": "SELECT * FROM salaries"}'),  # ungranted schema
    ("POST", "/v1/db/vendas/execute", b'{"sql": "CREATE TABLE t (x)"}'),  # a write on :read
]


class HostApi(http.client.HTTPConnection):
    """http.client over the unix socket in SANDBENCH_HOST_API."""

    def __init__(self):
        super().__init__("sandbench", timeout=2)
        self.path = os.environ["SANDBENCH_HOST_API"].removeprefix("unix://")

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def refused(host, method, path, body):
    # http.client would normalize nothing: the path goes out as written, `..` included.
    host.request(method, path, body=body)
    answer = host.getresponse()
    answer.read()
    return answer.status == 403 and answer.getheader("Sandbench-Error") == "denied"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        host = HostApi()
        try:
            let_through = [f"{m} {p}" for m, p, b in ATTEMPTS if not refused(host, m, p, b)]
        finally:
            host.close()
        body = json.dumps({"not refused": let_through}).encode()
        self.send_response(500 if let_through else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
