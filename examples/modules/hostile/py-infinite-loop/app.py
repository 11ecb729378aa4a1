"""HOSTILE: `GET /` spins forever in pure Python; `GET /ok` answers 200.

Expected: a `cpu` violation (the call's fuel runs out) or `timeout` (the epoch deadline),
after which the next call gets a new instance and `GET /ok` answers.
"""

from sandbench_guest import Request, Response


def handle(request: Request) -> Response:
    if request.path == "/ok":
        return Response.text("still here")
    spins = 0
    while True:
        spins += 1
