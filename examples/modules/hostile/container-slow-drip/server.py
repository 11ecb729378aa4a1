"""HOSTILE container module: answers, but never finishes answering.

`GET /` sends a status line and headers promising 100,000 bytes, then one byte every half
second; each read on the other side is short, the response is endless. `limits.timeout`
must bound the whole response, not each read: expected a `timeout` violation.
"""

import os
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.flush()
        for _ in range(100000):
            self.wfile.write(b".")
            self.wfile.flush()
            time.sleep(0.5)

    def log_message(self, format, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
