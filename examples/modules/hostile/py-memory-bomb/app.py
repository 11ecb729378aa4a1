"""HOSTILE: `GET /` keeps 1 MiB blocks until the allocator refuses; `GET /ok` answers 200.

Expected: a `memory` violation (MemoryError inside the guest once linear memory reaches
limits.memory), reported even though the module would happily keep going.
"""

from sandbench_guest import Request, Response

BLOCK = 1024 * 1024


def handle(request: Request) -> Response:
    if request.path == "/ok":
        return Response.text("still here")
    hoard = []
    for _ in range(4096):  # 4 GiB: far past any memory limit the platform allows
        hoard.append(bytearray(BLOCK))
    return Response.text(f"kept {len(hoard)} MiB")
