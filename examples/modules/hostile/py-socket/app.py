"""HOSTILE: `GET /?port=N` opens a TCP connection to 127.0.0.1:N (default 8080) directly.

`sandbench build` refuses a plain `import socket`, so the module imports it by name at
run time and catches what fails. `GET /ok` answers 200.

Expected: a `network-denied` violation; nothing reaches the port.
"""

import importlib

from sandbench_guest import Request, Response


def _port(query: str) -> int:
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "port" and value.isdigit():
            return int(value)
    return 8080


def handle(request: Request) -> Response:
    if request.path == "/ok":
        return Response.text("still here")
    port = _port(request.query)
    try:
        net = importlib.import_module("socket")
        with net.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return Response.text(f"LEAKED: connected to 127.0.0.1:{port}")
    except Exception as exc:  # the module hides the failure; the sandbox still reports it
        return Response.text(f"no connection ({type(exc).__name__}: {exc})")
