# The C extension _native.c (see its header comment); native.py is its only user.

def init(
    call_unchecked: int,
    set_fuel: int,
    get_fuel: int,
    set_deadline: int,
    memory_data: int,
    memory_data_size: int,
    val_raw_size: int,
    /,
) -> None: ...
def reactor_call(
    context: int,
    alloc: int,
    handle: int,
    memory: int,
    fuel: int,
    ticks: int,
    request: bytes,
    cap: int,
    /,
) -> tuple[int, int, int, int, bytes | None, int, int, int, int]: ...
