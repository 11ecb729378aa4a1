"""A probe for the component sandbox tests: each path shows one thing the module can reach.

GET  /                              200 ok
GET  /env                           the environment the module sees, as JSON
GET  /file?path=P                   read P (200 content, 403 the error)
POST /file?path=P                   write the body to P
GET  /listdir?path=P                list a folder
GET  /host/read?bucket=B&key=K      storage_read through the host API (403 the error code)
POST /host/write?bucket=B&key=K     storage_write of the body
GET  /host/list?bucket=B            storage_list
GET  /fetch?url=U                   http_fetch GET
GET  /log                           log lines at two levels, and print to stdout and stderr
GET  /big?size=N                    a body of N bytes
POST /echo                          the body, byte for byte
GET  /raise                         json.loads of a broken document raises in json's decoder
"""

import json
import os
import sys
from urllib.parse import parse_qs

from sandbench_guest import (
    HostError,
    Request,
    Response,
    http_fetch,
    log,
    storage_list,
    storage_read,
    storage_write,
)

# Runs while the component is built, where the host log does not exist yet: a print here
# must go to the build's output, not break the build.
print("probe: imported")


def _files(request: Request, path: str) -> Response:
    try:
        if request.method == "POST":
            with open(path, "wb") as handle:
                handle.write(request.body)
            return Response.text("written")
        with open(path, "rb") as handle:
            return Response(200, handle.read())
    except OSError as exc:
        return Response.text(f"{type(exc).__name__}: {exc}", status=403)


def _host(request: Request, action: str, args: dict[str, str]) -> Response:
    bucket, key = args.get("bucket", ""), args.get("key", "")
    try:
        if action == "read":
            return Response(200, storage_read(bucket, key))
        if action == "write":
            return Response.text(str(storage_write(bucket, key, request.body)))
        if action == "list":
            return Response.json(storage_list(bucket, args.get("prefix", "")))
        status, _, body = http_fetch("GET", args.get("url", ""))
        return Response(status, body)
    except HostError as exc:
        return Response.text(exc.code, status=403)


def _decode(text: str) -> object:
    return json.loads(text)  # the innermost of the probe's own frames when it raises


def handle(request: Request) -> Response:  # noqa: C901 - one branch per probe path
    args = {name: values[-1] for name, values in parse_qs(request.query).items()}
    path = request.path
    if path == "/env":
        return Response.json({"environ": dict(os.environ), "secret": os.getenv("PROBE_SECRET")})
    if path == "/file":
        return _files(request, args.get("path", ""))
    if path == "/listdir":
        try:
            return Response.json(sorted(os.listdir(args.get("path", "/"))))
        except OSError as exc:
            return Response.text(f"{type(exc).__name__}: {exc}", status=403)
    if path.startswith("/host/"):
        return _host(request, path.removeprefix("/host/"), args)
    if path == "/fetch":
        return _host(request, "fetch", args)
    if path == "/log":
        log("info", "probe info line")
        log("warn", "probe warn line")
        print("printed to stdout")
        print("printed to stderr", file=sys.stderr)
        return Response.text("logged")
    if path == "/big":
        return Response(200, b"x" * int(args.get("size", "0")))
    if path == "/raise":
        return Response.json(_decode("{"))
    if path == "/echo":
        return Response(200, request.body, {"content-type": "application/octet-stream"})
    return Response.text("ok")
