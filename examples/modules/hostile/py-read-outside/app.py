"""HOSTILE: granted `storage:read:docs` only, `GET /` tries to get out of the bucket.

It reads /etc/passwd, escapes /storage/docs with '..', and creates a file in the read-only
bucket, catching every error and printing one line per attempt (they reach the host log).
It answers 200 with what it got, so a leak shows in the body. `GET /ok` answers 200.

Expected: a `storage` violation (file access outside the grants), the bucket unchanged.
"""

from sandbench_guest import Request, Response

ATTEMPTS = [
    ("read", "/etc/passwd"),
    ("read", "/storage/docs/../../etc/passwd"),
    ("read", "/storage/../etc/hostname"),
    ("write", "/storage/docs/pwned.txt"),
]


def _try(action: str, path: str) -> str:
    try:
        if action == "read":
            with open(path, encoding="utf-8", errors="replace") as handle:
                return f"LEAKED {path}: {handle.read(200)!r}"
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("pwned")
        return f"LEAKED wrote {path}"
    except OSError as exc:
        return f"{action} {path}: denied ({type(exc).__name__}: {exc})"


def handle(request: Request) -> Response:
    if request.path == "/ok":
        return Response.text("still here")
    lines = [_try(action, path) for action, path in ATTEMPTS]
    for line in lines:
        print(line)
    return Response.text("\n".join(lines))
